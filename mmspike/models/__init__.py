from .neurons import (ATanSurrogate, BaseMultiStepNeuron, MultiStepILIF, MultiStepLIF,
                      MultiStepPLIF, SigmoidSurrogate, build_surrogate, expand_integer_spikes,
                      reset_neurons)

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'BaseMultiStepNeuron', 'MultiStepLIF',
           'MultiStepPLIF', 'MultiStepILIF', 'expand_integer_spikes', 'build_surrogate',
           'reset_neurons']
