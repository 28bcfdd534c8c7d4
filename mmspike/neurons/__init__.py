"""Multi-step spiking neurons (``[T, B, ...]`` in, spikes out) and their surrogate gradients.

Every neuron and surrogate is registered in mmengine's root ``MODELS`` registry, so a config
names one with ``neuron_cfg=dict(type='PLIF', ...)`` and a plugin adds its own with
``@MODELS.register_module()``: a :class:`BaseMultiStepNeuron` subclass, or any
:class:`StatefulModule` with ``emits_spikes = True`` (:mod:`mmspike.neurons.stateful` describes
the protocol).  :func:`build_neuron` and :func:`build_surrogate` build them from configs.

* ``stateful.py``: :class:`StatefulModule`, :func:`is_spiking_neuron`, :func:`reset_neurons`.
* ``surrogates.py``: the spike functions with surrogate gradients.
* ``multistep.py``: LIF, PLIF and I-LIF (fused and reference backends).
* ``builder.py``: building neurons and surrogates through ``MODELS``.
"""
from .builder import (accepts_argument, build_neuron, build_surrogate, is_neuron_class,
                      neuron_class, registered_neurons, registered_surrogates, surrogate_class)
from .multistep import (LIF_SIGMOID, PLIF_ATAN, BaseMultiStepNeuron, MultiStepILIF,
                        MultiStepLIF, MultiStepPLIF, expand_integer_spikes)
from .stateful import StatefulModule, has_spiking_state, is_spiking_neuron, reset_neurons
from .surrogates import ATanSurrogate, SigmoidSurrogate, SurrogateFunction

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'SurrogateFunction', 'BaseMultiStepNeuron',
           'MultiStepLIF', 'MultiStepPLIF', 'MultiStepILIF', 'expand_integer_spikes',
           'build_neuron', 'build_surrogate', 'neuron_class', 'surrogate_class',
           'is_neuron_class', 'registered_neurons', 'registered_surrogates', 'accepts_argument',
           'reset_neurons', 'is_spiking_neuron', 'has_spiking_state', 'PLIF_ATAN', 'LIF_SIGMOID',
           'StatefulModule']
