"""Build neurons and surrogates from configs through mmengine's ``MODELS`` registry.

``neuron_cfg=dict(type='PLIF', init_tau=2.0)`` names a registered neuron (mmspike's ``'LIF'``,
``'PLIF'``, ``'ILIF'`` or a plugin's, registered with ``@MODELS.register_module()``) or gives
its class; ``surrogate=dict(type='atan', alpha=2.0)`` likewise names a registered
:class:`~mmspike.neurons.surrogates.SurrogateFunction`.  Names are looked up as
``MODELS.build`` looks them up: in the registry of the current default scope (e.g. MMAction2's
inside an MMAction2 runner), then in its parents up to mmengine's root.
"""
import inspect
from typing import Callable, List, Union

from torch import nn

from ..registry import MODELS
from .stateful import StatefulModule
from .surrogates import SurrogateFunction

__all__ = ['build_neuron', 'build_surrogate', 'neuron_class', 'surrogate_class',
           'is_neuron_class', 'registered_neurons', 'registered_surrogates', 'accepts_argument']


def is_neuron_class(cls) -> bool:
    """Whether ``cls`` is a spiking neuron class: a :class:`StatefulModule` with
    ``emits_spikes`` (every :class:`~mmspike.neurons.BaseMultiStepNeuron`, a plugin's neuron
    that follows the protocol of :mod:`mmspike.neurons.stateful`) or a spikingjelly neuron
    (``BaseNode``)."""
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        return False
    if issubclass(cls, StatefulModule):
        return bool(cls.emits_spikes)
    return any(base.__name__ == 'BaseNode' and base.__module__.startswith('spikingjelly')
               for base in cls.__mro__)


def _is_surrogate_class(cls) -> bool:
    return inspect.isclass(cls) and issubclass(cls, SurrogateFunction)


def _registered(predicate: Callable) -> List[str]:
    """Names in the registry chain ``MODELS.build`` searches whose class fits ``predicate``."""
    names = set()
    with MODELS.switch_scope_and_registry(None) as registry:
        while registry is not None:
            names.update(name for name, cls in registry.module_dict.items() if predicate(cls))
            registry = registry.parent
    return sorted(names)


def registered_neurons() -> List[str]:
    """The names of the registered spiking neurons (:func:`is_neuron_class`)."""
    return _registered(is_neuron_class)


def registered_surrogates() -> List[str]:
    """The names of the registered surrogates (:class:`SurrogateFunction` subclasses)."""
    return _registered(_is_surrogate_class)


def _lookup(name: str):
    with MODELS.switch_scope_and_registry(None) as registry:
        return registry.get(name)


def neuron_class(neuron_type: Union[str, type]) -> type:
    """The neuron class ``neuron_type`` names (a registered name) or is (a class).

    Raises:
        ValueError: the name is not registered, or names (or is) a class that is not a spiking
            neuron (:func:`is_neuron_class`); the message lists the registered neurons.
    """
    if isinstance(neuron_type, str):
        cls = _lookup(neuron_type)
        if cls is None:
            raise ValueError(f'unknown neuron type {neuron_type!r}; expected one of the neurons '
                             f'registered in MODELS: {registered_neurons()}, or a neuron class')
    else:
        cls = neuron_type
    if not is_neuron_class(cls):
        what = cls.__name__ if inspect.isclass(cls) else f'a {type(cls).__name__}'
        raise ValueError(f'neuron type {neuron_type!r} is {what}, not a spiking neuron class (a '
                         f'StatefulModule with emits_spikes = True, e.g. a BaseMultiStepNeuron '
                         f'subclass); registered neurons: {registered_neurons()}')
    return cls


def build_neuron(cfg: dict) -> nn.Module:
    """Build a spiking neuron from ``dict(type=<registered name or class>, **kwargs)`` through
    ``MODELS`` (e.g. ``dict(type='LIF', tau=2.0)``, ``dict(type='MyNeuron')``).

    Raises:
        ValueError: ``cfg`` has no ``type``, or ``type`` is not a registered neuron (the message
            lists the registered ones).
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'a neuron config is a dict with a "type" (one of '
                         f'{registered_neurons()} or a neuron class), got {cfg!r}')
    cfg = dict(cfg)
    cfg['type'] = neuron_class(cfg['type'])
    return MODELS.build(cfg)


def surrogate_class(surrogate_type: Union[str, type]) -> type:
    """The :class:`SurrogateFunction` subclass ``surrogate_type`` names or is.  A name that is
    not a registered surrogate is tried in lower case too (``'ATan'`` -> ``'atan'``)."""
    if not isinstance(surrogate_type, str):
        if _is_surrogate_class(surrogate_type):
            return surrogate_type
        raise ValueError(f'surrogate type {surrogate_type!r} is not a SurrogateFunction '
                         f'subclass; registered surrogates: {registered_surrogates()}')
    for name in dict.fromkeys((surrogate_type, surrogate_type.lower())):
        cls = _lookup(name)
        if _is_surrogate_class(cls):
            return cls
    raise ValueError(f'unknown surrogate {surrogate_type!r}; expected one of the surrogates '
                     f'registered in MODELS: {registered_surrogates()}')


def build_surrogate(surrogate: Union[nn.Module, str, dict]) -> nn.Module:
    """A surrogate spike function from a module (returned as is), a registered name
    (``'atan'``, ``'sigmoid'``) or ``dict(type=<name or class>, **kwargs)``, built through
    ``MODELS``."""
    if isinstance(surrogate, nn.Module):
        return surrogate
    if isinstance(surrogate, str):
        surrogate = dict(type=surrogate)
    if isinstance(surrogate, dict):
        if 'type' not in surrogate:
            raise ValueError(f'a surrogate config is a dict with a "type" (one of '
                             f'{registered_surrogates()}), got {surrogate!r}')
        cfg = dict(surrogate)
        cfg['type'] = surrogate_class(cfg['type'])
        return MODELS.build(cfg)
    raise TypeError(f'surrogate must be a module, a name or a dict, got '
                    f'{type(surrogate).__name__}')


def accepts_argument(neuron_type: Union[str, type], name: str) -> bool:
    """Whether the neuron class ``neuron_type`` names takes the keyword argument ``name`` (or
    any keyword argument), e.g. to pass a threshold only to neurons that have one."""
    parameters = inspect.signature(neuron_class(neuron_type)).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
