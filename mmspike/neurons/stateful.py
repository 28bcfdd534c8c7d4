"""The protocol of modules that keep state between calls, and the one rule that finds spiking
neurons.

A module keeps state between calls (a neuron its membrane, causal attention its running sum)
when it derives from :class:`StatefulModule` and implements ``reset()``, ``get_state()`` and
``set_state(state)``.  A *spiking neuron layer* is such a module that also sets
``emits_spikes = True``: its forward maps a multi-step input ``[T, B, ...]`` to spikes of the
same shape (0/1, or integers up to ``max_spike_value``).  Every
:class:`~mmspike.neurons.BaseMultiStepNeuron` does, and so may a plugin's neuron::

    @MODELS.register_module()
    class MyNeuron(StatefulModule):
        emits_spikes = True
        ...

:func:`is_spiking_neuron` (also true for spikingjelly's neurons) is how :class:`SpikeResetHook`,
:class:`FiringRateHook` and the energy counter find neurons; :func:`has_spiking_state` is what
:func:`reset_neurons` resets and what gradient checkpointing restores.
"""
from torch import nn

__all__ = ['StatefulModule', 'is_spiking_neuron', 'has_spiking_state', 'reset_neurons']


class StatefulModule(nn.Module):
    """A module that keeps state between calls until :meth:`reset` (spikingjelly's
    ``MemoryModule`` in mmspike): neurons keep their membrane, causal attention its running sum.

    :func:`has_spiking_state` recognises it, so :func:`reset_neurons` (and
    :class:`SpikeResetHook`) reset it and gradient checkpointing restores it.  Subclasses
    implement :meth:`reset`, :meth:`get_state` and :meth:`set_state`; a spiking neuron layer also
    sets :attr:`emits_spikes` (and, for integer spikes, :attr:`max_spike_value`).
    """

    #: True for a spiking neuron layer: its output ``[T, B, ...]`` are spikes, recorded by
    #: :class:`FiringRateHook` and counted by the energy counter (:func:`is_spiking_neuron`).
    emits_spikes = False
    #: the largest spike value (1: binary spikes; an integer neuron's ``D``).
    max_spike_value = 1

    def reset(self):
        raise NotImplementedError

    def get_state(self):
        """The state, as :meth:`set_state` takes it back."""
        raise NotImplementedError

    def set_state(self, state):
        raise NotImplementedError


def _derives_from_spikingjelly(module: nn.Module, class_name: str) -> bool:
    """Whether ``module``'s class derives from spikingjelly's ``class_name`` (recognised by the
    class hierarchy, so spikingjelly is never imported here)."""
    return any(cls.__name__ == class_name and cls.__module__.startswith('spikingjelly')
               for cls in type(module).__mro__)


def is_spiking_neuron(module: nn.Module) -> bool:
    """The one rule for "this module is a spiking neuron layer" used by :class:`SpikeResetHook`,
    :class:`FiringRateHook` and the energy counter: a :class:`StatefulModule` with
    ``emits_spikes`` (every mmspike neuron, any plugin neuron that follows the protocol) or a
    spikingjelly neuron (any subclass of ``spikingjelly...neuron.BaseNode``)."""
    if isinstance(module, StatefulModule):
        return bool(module.emits_spikes)
    return _derives_from_spikingjelly(module, 'BaseNode')


def has_spiking_state(module: nn.Module) -> bool:
    """Whether ``module`` keeps state between calls: a :class:`StatefulModule` (neurons, causal
    attention), a spikingjelly neuron or any other stateful spikingjelly module
    (``MemoryModule``).  What :func:`reset_neurons` resets and what gradient checkpointing must
    restore."""
    return (isinstance(module, StatefulModule) or is_spiking_neuron(module)
            or _derives_from_spikingjelly(module, 'MemoryModule'))


def reset_neurons(module: nn.Module) -> int:
    """Reset the state of every module in ``module`` that :func:`has_spiking_state`.

    Returns the number of modules reset.
    """
    count = 0
    for m in module.modules():
        if has_spiking_state(m):
            m.reset()
            count += 1
    return count

