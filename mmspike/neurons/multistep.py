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

Mixed precision: a float16 / bfloat16 input (e.g. a layer's output under ``torch.autocast``) is
cast to float32 first, so the membrane, the charge-fire-reset loop and the surrogate gradient
stay in float32 (a threshold crossing must not depend on 8 bits of mantissa); the spikes are
returned in the input's dtype, in which 0/1 and I-LIF's integers up to 256 are exact, and the
gradient reaching the input is cast back to its dtype by autograd.

Every neuron is registered in mmengine's root ``MODELS`` under the name configs use (``'LIF'``,
``'PLIF'``, ``'ILIF'``) and its class name; :func:`mmspike.neurons.build_neuron` builds one from
``neuron_cfg``.  A plugin's :class:`BaseMultiStepNeuron` subclass registered with
``@MODELS.register_module()`` works in every backbone and head the same way; the compiled
kernels run only mmspike's own formulas (:meth:`BaseMultiStepNeuron.kernel_params`), anything
else runs the PyTorch loop.
"""
import math

import torch
from torch import nn

from ..ops.neuron_kernels import NeuronKernelKind
from ..registry import MODELS
from .builder import build_surrogate
from .stateful import StatefulModule
from .surrogates import ATanSurrogate, SigmoidSurrogate, heaviside

__all__ = ['MultiStepLIF', 'MultiStepPLIF', 'MultiStepILIF', 'BaseMultiStepNeuron',
           'expand_integer_spikes', 'round_clamp', 'PLIF_ATAN', 'LIF_SIGMOID',
           'NEURON_BACKENDS', 'LOW_PRECISION_DTYPES']


def round_clamp(x: torch.Tensor, levels: float) -> torch.Tensor:
    """The spike of an integer neuron: ``round(clamp(x, 0, D))`` (round half to even)."""
    return torch.round(torch.clamp(x, 0.0, levels))


#: The default neuron of SVFormer and of the classification heads: PLIF, init tau 2, threshold 1,
#: hard reset to 0, detached reset, ATan surrogate with alpha 2 (SVFormer's official settings).
PLIF_ATAN = dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0))
#: SpikeVideoFormer / Meta-SpikeFormer's neuron: LIF, tau 2, threshold 1, hard reset to 0,
#: detached reset, sigmoid surrogate with alpha 4.
LIF_SIGMOID = dict(type='LIF', tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                   surrogate=dict(type='sigmoid', alpha=4.0), detach_reset=True)


#: ``backend`` values of the multi-step neurons.
NEURON_BACKENDS = ('fused', 'reference')
#: input dtypes a neuron casts to float32 (its state and surrogate stay in float32)
LOW_PRECISION_DTYPES = (torch.float16, torch.bfloat16)


class _FusedMultiStep(torch.autograd.Function):
    """The multi-step charge-fire-reset loop of a neuron as one autograd node.

    Forward runs the loop without autograd and keeps only the pre-spike membranes ``H[t]``
    (and, for a learnable ``1/tau``, the input).  Backward is the reverse loop of the chain
    rule, with ``gV`` the gradient reaching the membrane after step ``t``:

    * ``gH[t] = gS[t] * S'(H[t]) + gV[t] * dV[t]/dH[t]``   (``S'``: surrogate derivative)
    * ``gX[t] = gH[t] * dH/dX``,  ``gV[t-1] = gH[t] * dH/dV + (external gradient of V[t-1])``
    * PLIF: ``g(1/tau) = sum_t gH[t] * dH[t]/d(1/tau)``, ``gw = g(1/tau) * k (1 - k)`` with
      ``k = sigmoid(w)``.

    The neuron supplies the formulas (``charge``, ``spike``, ``spike_grad``, ``reset_membrane``,
    ``reset_grad``, ``charge_grads``, ``rate_grad``), the same ones its reference loop uses.

    Inputs: ``x_seq [T, ...]``, ``v0 [...]`` (the state before step 0), ``rate_param`` (PLIF's
    ``w`` or None), the neuron, ``keep_v_seq``.  Outputs: spikes ``[T, ...]`` and either
    ``v_seq [T, ...]`` (``keep_v_seq``) or the last membrane ``[...]``; both take gradients.
    """

    @staticmethod
    def forward(ctx, x_seq, v0, rate_param, neuron, keep_v_seq):
        ctx.set_materialize_grads(False)  # an unused output (the last V) gets None, not zeros
        ctx.neuron = neuron
        ctx.keep_v_seq = keep_v_seq
        spikes, v_out, h_seq, ctx.kernel_args = neuron._forward_no_grad(
            x_seq, v0, keep_v_seq, keep_h=True)
        if rate_param is not None:
            ctx.save_for_backward(h_seq, v0, x_seq, rate_param)
        else:
            ctx.save_for_backward(h_seq, v0)
        return spikes, v_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_spikes, grad_v_out):
        neuron = ctx.neuron
        saved = ctx.saved_tensors  # read once: checkpointing allows one unpack per backward
        h_seq, v0 = saved[:2]
        learn_rate = len(saved) > 2
        x_seq, rate_param = saved[2:] if learn_rate else (None, None)
        if ctx.kernel_args is not None:
            from ..ops import neuron_kernels
            grad_x, grad_v, grad_rate = neuron_kernels.backward(
                h_seq, v0, x_seq, grad_spikes, grad_v_out, ctx.keep_v_seq, ctx.kernel_args)
        else:
            grad_x, grad_v, grad_rate = _loop_backward(
                neuron, h_seq, v0, x_seq, grad_spikes, grad_v_out, ctx.keep_v_seq)
        grad_param = None
        if learn_rate:
            k = torch.sigmoid(rate_param)
            grad_param = (grad_rate.sum() * k * (1 - k)).to(rate_param.dtype)
        return grad_x, grad_v, grad_param, None, None


def _loop_backward(neuron, h_seq, v0, x_seq, grad_spikes, grad_v_out, keep_v_seq):
    """The reverse loop of :class:`_FusedMultiStep` in PyTorch operations (any device and
    dtype): ``grad_x``, the gradient of ``v0`` and, with ``x_seq`` (a learnable ``1/tau``), the
    per-element ``g(1/tau)`` sums."""
    dh_dx, dh_dv = neuron.charge_grads()
    grad_x = torch.empty_like(h_seq)
    grad_v = torch.zeros_like(v0)
    if grad_v_out is not None and not keep_v_seq:
        grad_v = grad_v + grad_v_out
    grad_rate = torch.zeros_like(v0) if x_seq is not None else None
    for t in range(h_seq.shape[0] - 1, -1, -1):
        if grad_v_out is not None and keep_v_seq:
            grad_v = grad_v + grad_v_out[t]
        h = h_seq[t]
        spike = neuron.spike(h)
        surrogate = neuron.spike_grad(h)
        grad_h = grad_v * neuron.reset_grad(h, spike, surrogate)
        if grad_spikes is not None:
            grad_h = grad_h + grad_spikes[t] * surrogate
        torch.mul(grad_h, dh_dx, out=grad_x[t])
        if grad_rate is not None:
            if t > 0:
                prev = h_seq[t - 1]
                v_prev = neuron.reset_membrane(prev, neuron.spike(prev))
            else:
                v_prev = v0
            grad_rate += grad_h * neuron.rate_grad(x_seq[t], v_prev)
        grad_v = grad_h * dh_dv
    return grad_x, grad_v, grad_rate


class BaseMultiStepNeuron(StatefulModule):
    """Shared state handling and the charge-fire-reset loop over the first (time) dimension.

    For every step ``t``: ``H = charge(X[t], V)``, ``S = fire(H)``, ``V = reset_membrane(H, S')``
    with ``S' = S.detach()`` when ``detach_reset``.  Subclasses implement the three steps and
    their derivatives (for the fused backend).
    The membrane ``V`` is kept between calls (so a clip can be fed in pieces, e.g. frame by
    frame) until :meth:`reset`; a call whose step shape differs from the kept state raises.
    Every mmspike neuron derives from this class, and so may a plugin's (registered in
    ``MODELS``, it is named in configs like mmspike's); ``emits_spikes`` makes
    :func:`is_spiking_neuron` (the one rule the hooks and the energy counter use) find it.

    Backends (same spikes, membranes and gradients; tested against each other and against
    spikingjelly 2.0):

    * ``'fused'``: the loop runs without autograd and one autograd node
      (:class:`_FusedMultiStep`) computes the gradients in an explicit reverse loop, storing
      one tensor ``H`` of the input's size (PLIF: and the input) instead of every step's
      intermediates.  Without gradients (inference) the same loop runs and nothing is stored.
    * ``'reference'``: the per-step loop under autograd, the direct transcription of the
      formulas; kept for tests and debugging.

    A subclass that implements only :meth:`charge`, :meth:`fire` and :meth:`reset_membrane`
    (not the forward-only :meth:`spike` and the derivatives the fused backward needs) runs the
    reference loop whatever ``backend`` says.  The compiled kernels run a neuron only when
    :meth:`kernel_params` names its formulas and the class changes none of them (a subclass
    of :class:`MultiStepLIF` with its own :meth:`charge` runs the PyTorch loop).

    Args:
        v_reset (float): the membrane at rest (the initial state). Defaults to 0.0.
        detach_reset (bool): detach the spike used in the reset. Defaults to True.
        store_v_seq (bool): keep ``v_seq`` (``[T, B, ...]``, membrane after reset).
            Defaults to False.
        backend (str): ``'fused'`` or ``'reference'``. Defaults to ``'fused'``.
    """

    emits_spikes = True

    def __init__(self, v_reset=0.0, detach_reset=True, store_v_seq=False, backend='fused'):
        super().__init__()
        if v_reset is None:
            raise NotImplementedError('soft reset (v_reset=None) is not implemented; '
                                      'mmspike neurons use a hard reset')
        if backend not in NEURON_BACKENDS:
            raise ValueError(f'{type(self).__name__}: backend must be one of {NEURON_BACKENDS}, '
                             f'got {backend!r}')
        self.v_reset = float(v_reset)
        self.detach_reset = detach_reset
        self.store_v_seq = store_v_seq
        self.backend = backend
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

    # the formulas -------------------------------------------------------------------------
    def charge(self, x, v):
        """``H[t]`` from the input ``X[t]`` and the membrane ``V[t-1]``."""
        raise NotImplementedError

    def fire(self, h):
        """Spikes from ``H`` with the surrogate gradient (reference backend)."""
        raise NotImplementedError

    def spike(self, h):
        """Spikes from ``H``, forward only (the value :meth:`fire` returns)."""
        raise NotImplementedError

    def spike_grad(self, h):
        """``dS/dH`` of :meth:`fire` at ``H`` (the surrogate derivative)."""
        raise NotImplementedError

    def reset_membrane(self, h, spike):
        """``V[t]`` from ``H[t]`` and the spike."""
        raise NotImplementedError

    def reset_grad(self, h, spike, spike_grad):
        """``dV[t]/dH[t]`` of :meth:`reset_membrane` (through the spike too unless
        ``detach_reset``)."""
        raise NotImplementedError

    def charge_grads(self):
        """``(dH/dX, dH/dV)`` of :meth:`charge` (constants or 0-dim tensors)."""
        raise NotImplementedError

    def rate_param(self):
        """The learnable parameter of ``1/tau`` (PLIF's ``w``), or None."""
        return None

    def rate_grad(self, x, v):
        """``dH/d(1/tau)`` at ``X[t]``, ``V[t-1]`` (neurons with :meth:`rate_param`)."""
        raise NotImplementedError

    def kernel_params(self):
        """The neuron as the compiled kernels' parameters ``(kind, rate, v_threshold, v_reset,
        atan, alpha, levels)`` (``kind``: a :class:`~mmspike.ops.neuron_kernels.NeuronKernelKind`;
        ``rate``: ``tau``, or ``1/tau`` for PLIF), or None when the kernels do not implement
        this neuron (the default: the PyTorch loop runs it)."""
        return None

    def _kernel_args(self, x_seq):
        """Arguments of the kernels for ``x_seq`` (the compiled CPU kernel for float32 and
        float64 CPU tensors, the Triton kernels for float32 CUDA tensors), or None to use the
        PyTorch loop (another device or dtype, a neuron the kernels do not implement, or no
        kernels)."""
        if x_seq.device.type == 'cpu':
            if x_seq.dtype not in (torch.float32, torch.float64):
                return None
            from ..ops.neuron_kernels import load_cpu_kernels
            available = load_cpu_kernels() is not None
        else:
            from ..ops.neuron_triton import triton_available
            available = x_seq.is_cuda and triton_available(x_seq)
        params = self.kernel_params() if available and _runs_kernels(type(self)) else None
        if params is None:
            return None
        return tuple(params) + (bool(self.detach_reset), )

    # the loop -----------------------------------------------------------------------------
    def _forward_no_grad(self, x_seq, v, keep_v_seq, keep_h):
        """The fused forward, through the compiled CPU kernel where it applies, else the
        PyTorch loop: spikes, ``v_seq`` or the last membrane, ``H`` (when ``keep_h``) and the
        kernel arguments used (None for the loop)."""
        kernel_args = self._kernel_args(x_seq)
        if kernel_args is not None:
            from ..ops import neuron_kernels
            outputs = neuron_kernels.forward(x_seq, v, keep_v_seq, keep_h, kernel_args)
        else:
            outputs = self._loop_no_grad(x_seq, v, keep_v_seq, keep_h)
        return outputs + (kernel_args, )

    def _loop_no_grad(self, x_seq, v, keep_v_seq, keep_h):
        """Forward loop without autograd: spikes, ``v_seq`` or the last membrane, and ``H``
        per step when ``keep_h``."""
        spikes = torch.empty_like(x_seq)
        v_seq = torch.empty_like(x_seq) if keep_v_seq else None
        h_seq = torch.empty_like(x_seq) if keep_h else None
        with torch.no_grad():
            for t in range(x_seq.shape[0]):
                h = self.charge(x_seq[t], v)
                spike = self.spike(h)
                v = self.reset_membrane(h, spike)
                spikes[t] = spike
                if keep_h:
                    h_seq[t] = h
                if keep_v_seq:
                    v_seq[t] = v
        return spikes, (v_seq if keep_v_seq else v), h_seq

    def _loop_reference(self, x_seq, v):
        spikes, v_seq = [], []
        for x in x_seq:
            h = self.charge(x, v)
            spike = self.fire(h)
            v = self.reset_membrane(h, spike.detach() if self.detach_reset else spike)
            spikes.append(spike)
            if self.store_v_seq:
                v_seq.append(v)
        return torch.stack(spikes), (torch.stack(v_seq) if self.store_v_seq else v)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(f'{type(self).__name__} expects a multi-step input [T, B, ...], '
                             f'got shape {tuple(x_seq.shape)}')
        in_dtype = x_seq.dtype
        if in_dtype in LOW_PRECISION_DTYPES:  # mixed precision: the neuron runs in float32
            x_seq = x_seq.float()
        v = self.v
        if v is None:
            v = torch.full_like(x_seq[0], self.v_reset)
        elif v.shape != x_seq.shape[1:]:
            raise RuntimeError(
                f'{type(self).__name__} holds state of shape {tuple(v.shape)} but got input '
                f'steps of shape {tuple(x_seq.shape[1:])}; call reset() between samples '
                f'(SpikeResetHook does this in OpenMMLab runners)')
        param = self.rate_param()
        if self.backend == 'reference' or not _has_fused_formulas(type(self)):
            spikes, v_out = self._loop_reference(x_seq, v)
        elif torch.is_grad_enabled() and (x_seq.requires_grad or v.requires_grad
                                          or (param is not None and param.requires_grad)):
            spikes, v_out = _FusedMultiStep.apply(x_seq, v, param, self, self.store_v_seq)
        else:
            spikes, v_out, _, _ = self._forward_no_grad(x_seq, v, self.store_v_seq, keep_h=False)
        if self.store_v_seq:
            self.v_seq = v_out
            self.v = v_out[-1]
        else:
            self.v = v_out
        return spikes.to(in_dtype)

    def _backend_repr(self):
        return '' if self.backend == 'fused' else f', backend={self.backend!r}'

    def extra_repr(self):
        return f'v_reset={self.v_reset}, detach_reset={self.detach_reset}' + self._backend_repr()


#: What the fused backend calls besides charge and reset_membrane; a subclass of
#: BaseMultiStepNeuron without them runs the reference loop.
_FUSED_FORMULAS = ('spike', 'spike_grad', 'reset_grad', 'charge_grads')
#: The formulas a kernel kind stands for: a class that changes any of them after the class that
#: defined its kernel_params runs the PyTorch loop.
_KERNEL_FORMULAS = ('charge', 'fire', 'spike', 'spike_grad', 'reset_membrane', 'reset_grad',
                    'charge_grads', 'rate_param', 'rate_grad', '_surrogate_kernel_params')


def _has_fused_formulas(cls: type) -> bool:
    """Whether neuron class ``cls`` implements what the fused backend needs."""
    return all(getattr(cls, name) is not getattr(BaseMultiStepNeuron, name)
               for name in _FUSED_FORMULAS)


def _runs_kernels(cls: type) -> bool:
    """Whether the compiled kernels may run neuron class ``cls``: its formulas are those of the
    class that defined its :meth:`~BaseMultiStepNeuron.kernel_params`."""
    owner = next(base for base in cls.__mro__ if 'kernel_params' in vars(base))
    return owner is not BaseMultiStepNeuron and all(
        getattr(cls, name, None) is getattr(owner, name, None) for name in _KERNEL_FORMULAS)


class _ThresholdNeuron(BaseMultiStepNeuron):
    """Binary spikes ``S = Heaviside(H - V_th)`` with a surrogate gradient, hard reset to
    ``V_reset``: ``V = H (1 - S) + V_reset S``."""

    def __init__(self, v_threshold=1.0, v_reset=0.0, surrogate='sigmoid', detach_reset=True,
                 store_v_seq=False, backend='fused'):
        super().__init__(v_reset, detach_reset, store_v_seq, backend)
        self.v_threshold = float(v_threshold)
        self.surrogate = build_surrogate(surrogate)
        if backend == 'fused' and not callable(getattr(self.surrogate, 'derivative', None)):
            raise ValueError(f"{type(self).__name__}: backend='fused' needs a surrogate with a "
                             f'derivative(x) method (ATanSurrogate, SigmoidSurrogate); '
                             f'{type(self.surrogate).__name__} has none: use '
                             f"backend='reference'")

    def fire(self, h):
        return self.surrogate(h - self.v_threshold)

    def spike(self, h):
        return heaviside(h - self.v_threshold)

    def spike_grad(self, h):
        return self.surrogate.derivative(h - self.v_threshold)

    def reset_membrane(self, h, spike):
        return h * (1.0 - spike) + self.v_reset * spike

    def _surrogate_kernel_params(self):
        """``(atan, alpha)`` for the compiled kernels, or None for another surrogate."""
        if type(self.surrogate) is ATanSurrogate:
            return True, float(self.surrogate.alpha)
        if type(self.surrogate) is SigmoidSurrogate:
            return False, float(self.surrogate.alpha)
        return None

    def reset_grad(self, h, spike, spike_grad):
        # V = H (1 - S) + V_reset S: dV/dH = 1 - S, plus (V_reset - H) dS/dH through the spike
        if self.detach_reset:
            return 1.0 - spike
        return (1.0 - spike) + (self.v_reset - h) * spike_grad

    def extra_repr(self):
        return f'v_threshold={self.v_threshold}, ' + super().extra_repr()


@MODELS.register_module(name=['LIF', 'MultiStepLIF'])
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
        backend (str): ``'fused'`` or ``'reference'`` (see :class:`BaseMultiStepNeuron`).
            Defaults to ``'fused'``.
    """

    def __init__(self, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                 surrogate='sigmoid', detach_reset=True, store_v_seq=False, backend='fused'):
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, store_v_seq, backend)
        if tau <= 1:
            raise ValueError(f'tau must be > 1, got {tau}')
        self.tau = float(tau)
        self.decay_input = decay_input

    def charge(self, x, v):
        if self.decay_input:
            return v + (x - (v - self.v_reset)) / self.tau
        return v - (v - self.v_reset) / self.tau + x

    def charge_grads(self):
        return (1.0 / self.tau if self.decay_input else 1.0), 1.0 - 1.0 / self.tau

    def kernel_params(self):
        surrogate = self._surrogate_kernel_params()
        if surrogate is None:
            return None
        kind = NeuronKernelKind.LIF_DECAY if self.decay_input else NeuronKernelKind.LIF_NO_DECAY
        return (kind, self.tau, self.v_threshold, self.v_reset, *surrogate, 0.0)

    def extra_repr(self):
        return f'tau={self.tau}, decay_input={self.decay_input}, ' + super().extra_repr()


@MODELS.register_module(name=['PLIF', 'MultiStepPLIF'])
class MultiStepPLIF(_ThresholdNeuron):
    """Parametric LIF (Fang et al., ICCV 2021): LIF with a learnable ``1/tau = sigmoid(w)``.

    Args:
        init_tau (float): initial time constant (> 1); ``w0 = -ln(init_tau - 1)``.
            Defaults to 2.0.
        decay_input (bool): whether the input is also scaled by ``1/tau``. Defaults to True.
        v_threshold, v_reset, surrogate, detach_reset, store_v_seq, backend: as
            :class:`MultiStepLIF`.
    """

    def __init__(self, init_tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                 surrogate='sigmoid', detach_reset=True, store_v_seq=False, backend='fused'):
        super().__init__(v_threshold, v_reset, surrogate, detach_reset, store_v_seq, backend)
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

    def charge_grads(self):
        k = self.w.detach().sigmoid()
        return (k if self.decay_input else 1.0), 1.0 - k

    def rate_param(self):
        return self.w

    def kernel_params(self):
        surrogate = self._surrogate_kernel_params()
        if surrogate is None:
            return None
        kind = (NeuronKernelKind.PLIF_DECAY if self.decay_input
                else NeuronKernelKind.PLIF_NO_DECAY)
        return (kind, self.w.detach().sigmoid().item(), self.v_threshold, self.v_reset,
                *surrogate, 0.0)

    def rate_grad(self, x, v):
        if self.decay_input:
            return x - (v - self.v_reset)
        return self.v_reset - v

    def extra_repr(self):
        return f'tau={self.tau:.4f}, decay_input={self.decay_input}, ' + super().extra_repr()


def _straight_through_mask(x: torch.Tensor, levels: float) -> torch.Tensor:
    """``d round(clamp(x, 0, D)) / dx`` of the straight-through estimator: 1 inside ``[0, D]``."""
    return ((x >= 0) & (x <= levels)).to(x.dtype)


class _RoundClampSTE(torch.autograd.Function):
    """:func:`round_clamp` forward; straight-through gradient inside ``[0, D]``."""

    @staticmethod
    def forward(ctx, x, levels):
        ctx.save_for_backward(x)
        ctx.levels = levels
        return round_clamp(x, levels)

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * _straight_through_mask(x, ctx.levels).to(grad_output.dtype), None


@MODELS.register_module(name=['ILIF', 'MultiStepILIF'])
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
        backend (str): ``'fused'`` or ``'reference'`` (see :class:`BaseMultiStepNeuron`).
            Defaults to ``'fused'``.
    """

    def __init__(self, levels=4, tau=2.0, detach_reset=True, store_v_seq=False,
                 backend='fused'):
        super().__init__(v_reset=0.0, detach_reset=detach_reset, store_v_seq=store_v_seq,
                         backend=backend)
        if int(levels) < 1:
            raise ValueError(f'levels (D) must be >= 1, got {levels}')
        if tau <= 1:
            raise ValueError(f'tau must be > 1, got {tau}')
        self.levels = int(levels)
        self.tau = float(tau)

    @property
    def max_spike_value(self) -> int:
        """The largest spike, ``D`` (what the energy counter counts as ``D`` binary spikes)."""
        return self.levels

    def charge(self, x, v):
        return v + (x - v) / self.tau

    def charge_grads(self):
        return 1.0 / self.tau, 1.0 - 1.0 / self.tau

    def kernel_params(self):
        return NeuronKernelKind.INTEGER_LIF, self.tau, 0.0, 0.0, False, 0.0, float(self.levels)

    def fire(self, h):
        return _RoundClampSTE.apply(h, float(self.levels))

    def spike(self, h):
        return round_clamp(h, float(self.levels))

    def spike_grad(self, h):
        return _straight_through_mask(h, float(self.levels))

    def reset_membrane(self, h, spike):
        return h - spike

    def reset_grad(self, h, spike, spike_grad):
        # V = H - S: dV/dH = 1, minus dS/dH through the spike
        if self.detach_reset:
            return 1.0
        return 1.0 - spike_grad

    def extra_repr(self):
        return (f'levels={self.levels}, tau={self.tau}, detach_reset={self.detach_reset}'
                + self._backend_repr())


def expand_integer_spikes(spikes: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer spikes ``s`` in ``{0..D}`` -> ``D`` binary sub-steps ``[s >= d]``, d = 1..D.

    Returns ``[D, *spikes.shape]``; the sum over the first dimension equals ``spikes``.
    """
    thresholds = torch.arange(1, int(levels) + 1, device=spikes.device, dtype=spikes.dtype)
    return (spikes.unsqueeze(0) >= thresholds.view(-1, *([1] * spikes.dim()))).to(spikes.dtype)
