from .neurons import (ATanSurrogate, BaseMultiStepNeuron, MultiStepLIF, MultiStepPLIF,
                      SigmoidSurrogate, build_surrogate, reset_neurons)

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'BaseMultiStepNeuron', 'MultiStepLIF',
           'MultiStepPLIF', 'build_surrogate', 'reset_neurons']
