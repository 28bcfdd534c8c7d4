"""Energy estimation for spiking models: MACs on real-valued inputs, ACs on spikes, and the
energy under three models of the hardware (``'compute'``, ``'memory'``, ``'lemaire'``) for the
network and its ANN / QNN baselines.

``estimate_energy(model, inputs)`` works on any ``nn.Module``; ``SpikeEnergyMetric``
(:mod:`mmspike.evaluation`) reports the same numbers per sample from an mmengine test loop.
"""
from .counter import (ENERGY_PRESETS, EnergyCounter, EnergyReport, LayerEnergy, estimate_energy,
                      resolve_energy_costs, spike_value_range)
from .models import (ENERGY_MODELS, SYSTEMS, EnergyBreakdown, EnergyCosts, lemaire_cost_per_byte,
                     qnn_bits_for)
from .ops import conv_dense_macs, conv_synaptic_ops, is_spike_tensor, matmul_counts

__all__ = ['ENERGY_PRESETS', 'EnergyCounter', 'EnergyReport', 'LayerEnergy', 'estimate_energy',
           'spike_value_range', 'resolve_energy_costs', 'conv_dense_macs', 'conv_synaptic_ops',
           'is_spike_tensor', 'matmul_counts', 'ENERGY_MODELS', 'SYSTEMS', 'EnergyBreakdown',
           'EnergyCosts', 'lemaire_cost_per_byte', 'qnn_bits_for']
