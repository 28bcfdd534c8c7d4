"""Task-agnostic building blocks: multi-step neurons and layers, the clip data preprocessor."""
from .data_preprocessor import ClipDataPreprocessor
from .neurons import (LIF_SIGMOID, PLIF_ATAN, ATanSurrogate, BaseMultiStepNeuron, MultiStepILIF,
                      MultiStepLIF, MultiStepPLIF, SigmoidSurrogate, StatefulModule,
                      build_surrogate,
                      expand_integer_spikes, has_spiking_state, is_spiking_neuron,
                      reset_neurons)

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'BaseMultiStepNeuron', 'MultiStepLIF',
           'MultiStepPLIF', 'MultiStepILIF', 'expand_integer_spikes', 'build_surrogate',
           'reset_neurons', 'is_spiking_neuron', 'has_spiking_state', 'PLIF_ATAN', 'LIF_SIGMOID',
           'StatefulModule', 'ClipDataPreprocessor']
