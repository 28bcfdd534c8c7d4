"""Multi-step spiking neurons (``[T, B, ...]`` in, spikes out) and their surrogate gradients.

Every neuron and surrogate is registered in mmengine's root ``MODELS`` registry, so a config
names one with ``neuron_cfg=dict(type='PLIF', ...)`` and a plugin adds its own with
``@MODELS.register_module()`` (see ``docs/layout.md``).
"""
from .multistep import (LIF_SIGMOID, PLIF_ATAN, ATanSurrogate, BaseMultiStepNeuron,
                        MultiStepILIF, MultiStepLIF, MultiStepPLIF, SigmoidSurrogate,
                        StatefulModule, build_surrogate, expand_integer_spikes,
                        has_spiking_state, is_spiking_neuron, reset_neurons)

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'BaseMultiStepNeuron', 'MultiStepLIF',
           'MultiStepPLIF', 'MultiStepILIF', 'expand_integer_spikes', 'build_surrogate',
           'reset_neurons', 'is_spiking_neuron', 'has_spiking_state', 'PLIF_ATAN', 'LIF_SIGMOID',
           'StatefulModule']
