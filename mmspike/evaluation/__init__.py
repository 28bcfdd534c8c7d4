"""Task-agnostic evaluation: :class:`SpikeEnergyMetric` (energy next to any task metric) and
:mod:`mmspike.evaluation.functional` (pure metric functions, e.g. 3D pose errors)."""
from . import functional
from .spike_energy_metric import SpikeEnergyMetric

__all__ = ['SpikeEnergyMetric', 'functional']
