"""Multi-step spiking neurons on ``[T, B, ...]`` tensors.

The dynamics follow spikingjelly's activation_based LIF / PLIF nodes exactly (tested against
spikingjelly 2.0 to 1e-6):

* charge (``decay_input=True``):  ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau``
  (``decay_input=False``: ``H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]``)
* fire:   ``S[t] = Heaviside(H[t] - V_th)`` with a surrogate gradient
* reset:  hard, ``V[t] = H[t] * (1 - S[t]) + V_reset * S[t]``; with ``detach_reset`` the spike
  used in the reset carries no gradient.

PLIF learns one scalar ``w`` per layer with ``1 / tau = sigmoid(w)``, initialised to
``w0 = -ln(init_tau - 1)``.  ``V[-1] = V_reset``; call :meth:`reset` (or
:func:`reset_neurons`) between independent samples.
"""
import math

import torch
from torch import nn

__all__ = ['ATanSurrogate', 'SigmoidSurrogate', 'heaviside_atan', 'heaviside_sigmoid',
           'MultiStepLIF', 'MultiStepPLIF', 'MultiStepILIF', 'BaseMultiStepNeuron',
           'expand_integer_spikes', 'reset_neurons', 'build_surrogate', 'is_spiking_neuron',
           'has_spiking_state', 'PLIF_ATAN', 'LIF_SIGMOID']


class _Heaviside(torch.autograd.Function):
    """Heaviside step forward (``x >= 0``); subclasses define the surrogate backward."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x)


class _HeavisideATan(_Heaviside):
    """ATan surrogate: ``dS/dx = alpha / 2 / (1 + (pi / 2 * alpha * x)^2)``."""

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        alpha = ctx.alpha
        return grad_output * (alpha / 2 / (1 + (math.pi / 2 * alpha * x).square())), None


class _HeavisideSigmoid(_Heaviside):
    """Sigmoid surrogate: ``dS/dx = alpha * sigmoid(alpha x) * (1 - sigmoid(alpha x))``."""

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * x)
        return grad_output * (1 - sig) * sig * ctx.alpha, None


def heaviside_atan(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    return _HeavisideATan.apply(x, alpha)


def heaviside_sigmoid(x: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    return _HeavisideSigmoid.apply(x, alpha)


class _SurrogateSpike(nn.Module):
    spike_function = None  # a heaviside_* function

    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return type(self).spike_function(x, self.alpha)

    def extra_repr(self):
        return f'alpha={self.alpha}'


class ATanSurrogate(_SurrogateSpike):
    """Spike function with the ATan surrogate gradient (spikingjelly's ``surrogate.ATan``)."""

    spike_function = staticmethod(heaviside_atan)

    def __init__(self, alpha: float = 2.0):
        super().__init__(alpha)


class SigmoidSurrogate(_SurrogateSpike):
    """Spike function with the sigmoid surrogate gradient (spikingjelly's ``surrogate.Sigmoid``)."""

    spike_function = staticmethod(heaviside_sigmoid)

    def __init__(self, alpha: float = 4.0):
        super().__init__(alpha)


_SURROGATES = {'atan': ATanSurrogate, 'sigmoid': SigmoidSurrogate}


def build_surrogate(surrogate):
    """Accept a module, or ``'atan'`` / ``'sigmoid'``, or ``dict(type='atan', alpha=2.0)``."""
    if isinstance(surrogate, nn.Module):
        return surrogate
    if isinstance(surrogate, str):
        surrogate = dict(type=surrogate)
    if isinstance(surrogate, dict):
        cfg = dict(surrogate)
        name = str(cfg.pop('type')).lower()
        if name not in _SURROGATES:
            raise ValueError(f'unknown surrogate {name!r}; expected one of {sorted(_SURROGATES)}')
        return _SURROGATES[name](**cfg)
    raise TypeError(f'surrogate must be a module, a name or a dict, got {type(surrogate)}')


#: The default neuron of SVFormer and of the classification heads: PLIF, init tau 2, threshold 1,
#: hard reset to 0, detached reset, ATan surrogate with alpha 2 (SVFormer's official settings).
PLIF_ATAN = dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0))
#: SpikeVideoFormer / Meta-SpikeFormer's neuron: LIF, tau 2, threshold 1, hard reset to 0,
#: detached reset, sigmoid surrogate with alpha 4.
LIF_SIGMOID = dict(type='LIF', tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                   surrogate=dict(type='sigmoid', alpha=4.0), detach_reset=True)


class StatefulModule(nn.Module):
    """A module that keeps state between calls until :meth:`reset` (spikingjelly's
    ``MemoryModule`` in mmspike): neurons keep their membrane, causal attention its running sum.

    :func:`has_spiking_state` recognises it, so :func:`reset_neurons` (and
    :class:`SpikeResetHook`) reset it and gradient checkpointing restores it.  Subclasses
    implement :meth:`reset`, :meth:`get_state` and :meth:`set_state`.
    """

    def reset(self):
        raise NotImplementedError

    def get_state(self):
        """The state, as :meth:`set_state` takes it back."""
        raise NotImplementedError

    def set_state(self, state):
        raise NotImplementedError


class BaseMultiStepNeuron(StatefulModule):
    """Shared state handling and the charge-fire-reset loop over the first (time) dimension.

    For every step ``t``: ``H = charge(X[t], V)``, ``S = fire(H)``, ``V = reset_membrane(H, S')``
    with ``S' = S.detach()`` when ``detach_reset``.  Subclasses implement the three steps.
    The membrane ``V`` is kept between calls (so a clip can be fed in pieces, e.g. frame by
    frame) until :meth:`reset`; a call whose step shape differs from the kept state raises.
    Every mmspike neuron derives from this class; :func:`is_spiking_neuron` is the one rule
    hooks and the energy counter use to find neurons (this class and spikingjelly's ``BaseNode``).

    Args:
        v_reset (float): the membrane at rest (the initial state). Defaults to 0.0.
        detach_reset (bool): detach the spike used in the reset. Defaults to True.
        store_v_seq (bool): keep ``v_seq`` (``[T, B, ...]``, membrane after reset).
            Defaults to False.
    """

    def __init__(self, v_reset=0.0, detach_reset=True, store_v_seq=False):
        super().__init__()
        if v_reset is None:
            raise NotImplementedError('soft reset (v_reset=None) is not implemented; '
                                      'mmspike neurons use a hard reset')
        self.v_reset = float(v_reset)
        self.detach_reset = detach_reset
        self.store_v_seq = store_v_seq
        self.v = None
        self.v_seq = None

    def reset(self):
        """Forget the membrane potential (the next forward starts from ``V_reset``)."""
        self.v = None
        self.v_seq = None

    def get_state(self):
        return self.v

    def set_state(self, state):
        self.v = state

    def charge(self, x, v):
        raise NotImplementedError

    def fire(self, h):
        raise NotImplementedError

    def reset_membrane(self, h, spike):
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(f'{type(self).__name__} expects a multi-step input [T, B, ...], '
                             f'got shape {tuple(x_seq.shape)}')
        v = self.v
        if v is None:
            v = torch.full_like(x_seq[0], self.v_reset)
        elif v.shape != x_seq.shape[1:]:
            raise RuntimeError(
                f'{type(self).__name__} holds state of shape {tuple(v.shape)} but got input '
                f'steps of shape {tuple(x_seq.shape[1:])}; call reset() between samples '
                f'(SpikeResetHook does this in OpenMMLab runners)')
        spikes, v_seq = [], []
        for x in x_seq:
            h = self.charge(x, v)
            spike = self.fire(h)
            v = self.reset_membrane(h, spike.detach() if self.detach_reset else spike)
            spikes.append(spike)
            if self.store_v_seq:
                v_seq.append(v)
        self.v = v
        if self.store_v_seq:
            self.v_seq = torch.stack(v_seq)
        return torch.stack(spikes)

    def extra_repr(self):
        return f'v_reset={self.v_reset}, detach_reset={self.detach_reset}'


class _ThresholdNeuron(BaseMultiStepNeuron):
    """Binary spikes ``S = Heaviside(H - V_th)`` with a surrogate gradient, hard reset to
    ``V_reset``: ``V = H (1 - S) + V_reset S``."""

    def __init__(self, v_threshold=1.0, v_reset=0.0, surrogate='sigmoid', detach_reset=True,
                 store_v_seq=False):
        super().__init__(v_reset, detach_reset, store_v_seq)
        self.v_threshold = float(v_threshold)
        self.surrogate = build_surrogate(surrogate)

    def fire(self, h):
        return self.surrogate(h - self.v_threshold)

    def reset_membrane(self, h, spike):
        return h * (1.0 - spike) + self.v_reset * spike

    def extra_repr(self):
        return f'v_threshold={self.v_threshold}, ' + super().extra_repr()


class MultiStepLIF(_ThresholdNeuron):
    """Leaky integrate-and-fire neuron, multi-step.

    Args:
        tau (float): membrane time constant (> 1). Defaults to 2.0.
        decay_input (bool): whether the input is also divided by ``tau``. Defaults to True.
        v_threshold (float): firing threshold. Defaults to 1.0.
        v_reset (float): hard-reset potential. Defaults to 0.0.
        surrogate (str | dict | nn.Module): surrogate spike function. Defaults to
            ``'sigmoid'`` with alpha 4 (spikingjelly's default).
        detach_reset (bool): detach the reset path. Defaults to True.
        store_v_seq (bool): keep ``v_seq`` (``[T, B, ...]``, membrane after reset).
    """

    def __init__(self, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                 surrogate='sigmoid', detach_reset=True, store_v_seq=False):
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, store_v_seq)
        if tau <= 1:
            raise ValueError(f'tau must be > 1, got {tau}')
        self.tau = float(tau)
        self.decay_input = decay_input

    def charge(self, x, v):
        if self.decay_input:
            return v + (x - (v - self.v_reset)) / self.tau
        return v - (v - self.v_reset) / self.tau + x

    def extra_repr(self):
        return f'tau={self.tau}, decay_input={self.decay_input}, ' + super().extra_repr()


class MultiStepPLIF(_ThresholdNeuron):
    """Parametric LIF (Fang et al., ICCV 2021): LIF with a learnable ``1/tau = sigmoid(w)``.

    Args:
        init_tau (float): initial time constant (> 1); ``w0 = -ln(init_tau - 1)``.
            Defaults to 2.0.
        decay_input (bool): whether the input is also scaled by ``1/tau``. Defaults to True.
        v_threshold, v_reset, surrogate, detach_reset, store_v_seq: as :class:`MultiStepLIF`.
    """

    def __init__(self, init_tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                 surrogate='sigmoid', detach_reset=True, store_v_seq=False):
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, store_v_seq)
        if init_tau <= 1:
            raise ValueError(f'init_tau must be > 1, got {init_tau}')
        self.decay_input = decay_input
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    @property
    def tau(self) -> float:
        return 1.0 / torch.sigmoid(self.w).item()

    def charge(self, x, v):
        if self.decay_input:
            return v + (x - (v - self.v_reset)) * self.w.sigmoid()
        return v - (v - self.v_reset) * self.w.sigmoid() + x

    def extra_repr(self):
        return f'tau={self.tau:.4f}, decay_input={self.decay_input}, ' + super().extra_repr()


class _RoundClampSTE(torch.autograd.Function):
    """``round(clamp(x, 0, D))`` forward; straight-through gradient inside ``[0, D]``."""

    @staticmethod
    def forward(ctx, x, levels):
        ctx.save_for_backward(x)
        ctx.levels = levels
        return torch.round(torch.clamp(x, 0.0, levels))

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        inside = (x >= 0) & (x <= ctx.levels)
        return grad_output * inside.to(grad_output.dtype), None


class MultiStepILIF(BaseMultiStepNeuron):
    """Integer LIF (I-LIF), multi-step: emits integer spikes in ``{0, 1, ..., D}``.

    ``H[t] = V[t-1] + (X[t] - V[t-1]) / tau`` (decay_input), ``S[t] = round(clamp(H[t], 0, D))``
    trained with a straight-through gradient, soft reset ``V[t] = H[t] - S[t]``.  At inference an
    integer spike of value ``s`` is the same as ``D`` binary sub-steps ``[s >= 1], ..., [s >= D]``
    (:func:`expand_integer_spikes`): any linear layer applied to the sub-steps and summed gives
    exactly its output on ``s``, so the network stays spike-driven (additions only).

    Args:
        levels (int): D, the largest integer spike (SpikeVideoFormer's segmentation model: 4).
            Defaults to 4.
        tau (float): membrane time constant (> 1). Defaults to 2.0.
        detach_reset (bool): detach the reset path. Defaults to True.
        store_v_seq (bool): keep ``v_seq``. Defaults to False.
    """

    def __init__(self, levels=4, tau=2.0, detach_reset=True, store_v_seq=False):
        super().__init__(v_reset=0.0, detach_reset=detach_reset, store_v_seq=store_v_seq)
        if int(levels) < 1:
            raise ValueError(f'levels (D) must be >= 1, got {levels}')
        if tau <= 1:
            raise ValueError(f'tau must be > 1, got {tau}')
        self.levels = int(levels)
        self.tau = float(tau)

    def charge(self, x, v):
        return v + (x - v) / self.tau

    def fire(self, h):
        return _RoundClampSTE.apply(h, float(self.levels))

    def reset_membrane(self, h, spike):
        return h - spike

    def extra_repr(self):
        return f'levels={self.levels}, tau={self.tau}, detach_reset={self.detach_reset}'


def expand_integer_spikes(spikes: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer spikes ``s`` in ``{0..D}`` -> ``D`` binary sub-steps ``[s >= d]``, d = 1..D.

    Returns ``[D, *spikes.shape]``; the sum over the first dimension equals ``spikes``.
    """
    thresholds = torch.arange(1, int(levels) + 1, device=spikes.device, dtype=spikes.dtype)
    return (spikes.unsqueeze(0) >= thresholds.view(-1, *([1] * spikes.dim()))).to(spikes.dtype)


def is_spiking_neuron(module: nn.Module) -> bool:
    """The one rule for "this module is a spiking neuron layer" used by :class:`SpikeResetHook`,
    :class:`FiringRateHook` and the energy counter: an mmspike :class:`BaseMultiStepNeuron` or a
    spikingjelly neuron (any subclass of ``spikingjelly...neuron.BaseNode``; recognised by its
    class hierarchy, so spikingjelly is never imported here)."""
    if isinstance(module, BaseMultiStepNeuron):
        return True
    return any(cls.__name__ == 'BaseNode' and cls.__module__.startswith('spikingjelly')
               for cls in type(module).__mro__)


def _is_spikingjelly_stateful(module: nn.Module) -> bool:
    """spikingjelly modules that keep state between calls (``MemoryModule``), neurons or not."""
    return any(cls.__name__ == 'MemoryModule' and cls.__module__.startswith('spikingjelly')
               for cls in type(module).__mro__)


def has_spiking_state(module: nn.Module) -> bool:
    """Whether ``module`` keeps state between calls: a spiking neuron (:func:`is_spiking_neuron`),
    another mmspike :class:`StatefulModule` (e.g. causal attention) or any other stateful
    spikingjelly module (``MemoryModule``).  What :func:`reset_neurons` resets and what gradient
    checkpointing must restore."""
    return (isinstance(module, StatefulModule) or is_spiking_neuron(module)
            or _is_spikingjelly_stateful(module))


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
