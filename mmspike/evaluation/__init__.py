from .spike_energy_metric import SpikeEnergyMetric

__all__ = ['SpikeEnergyMetric']
