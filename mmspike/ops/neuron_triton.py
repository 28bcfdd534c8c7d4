"""Triton kernels of the fused multi-step neurons, for CUDA tensors (float32).

The same loops and formulas as the CPU kernel (``csrc/neuron_cpu.cpp``; its header lists them)
and the same calls: :func:`neuron_forward` and :func:`neuron_backward` take and return what the
compiled module's ``neuron_forward`` / ``neuron_backward`` do (``[T, M]`` rows), so
:mod:`mmspike.ops.neuron_kernels` hands a CUDA tensor to this module and a CPU tensor to the
C++ one.  Each program owns ``BLOCK`` elements and runs their T steps with the state in
registers: the forward keeps ``V``, the backward the gradients of ``V`` and of PLIF's ``k``.

The tests run these kernels on the CPU through Triton's interpreter (``TRITON_INTERPRET=1``)
against the CPU kernel and the reference neurons; on a GPU the compiler may contract
multiply-adds, so float32 results can differ from the CPU's in the last bits (and a membrane
exactly at the threshold can then fire differently).  ``MMSPIKE_TRITON_NEURONS=0`` turns the
kernels off; the fused neurons then run their PyTorch loop on CUDA, as they do for float64 and
bfloat16.
"""
import math
import os

import torch

from .neuron_kernels import NeuronKernelKind

__all__ = ['triton_available', 'neuron_forward', 'neuron_backward']

_BLOCK = 1024
_state = dict(checked=False, error=None)

try:  # triton is a dependency of torch's CUDA wheels on Linux; absent elsewhere
    import triton
    import triton.language as tl
except ImportError as error:  # pragma: no cover - depends on the installation
    triton = None
    _state.update(checked=True, error=f'triton is not installed ({error})')
else:
    # the kinds as compile-time constants: a jit function reads a global only as a constexpr
    _LIF_DECAY = tl.constexpr(int(NeuronKernelKind.LIF_DECAY))
    _LIF_NO_DECAY = tl.constexpr(int(NeuronKernelKind.LIF_NO_DECAY))
    _PLIF_DECAY = tl.constexpr(int(NeuronKernelKind.PLIF_DECAY))
    _PLIF_NO_DECAY = tl.constexpr(int(NeuronKernelKind.PLIF_NO_DECAY))
    _INTEGER_LIF = tl.constexpr(int(NeuronKernelKind.INTEGER_LIF))


def triton_available(tensor: torch.Tensor) -> bool:
    """Whether the Triton kernels run ``tensor``: float32, on CUDA (or any device under
    ``TRITON_INTERPRET=1``, the interpreter the tests use), triton importable, and not switched
    off by ``MMSPIKE_TRITON_NEURONS=0``."""
    if triton is None or os.environ.get('MMSPIKE_TRITON_NEURONS', '1') == '0':
        return False
    if tensor.dtype != torch.float32:
        return False
    return tensor.is_cuda or os.environ.get('TRITON_INTERPRET', '0') == '1'


if triton is not None:

    @triton.jit
    def _spike(h, v_threshold, levels, KIND: tl.constexpr):
        if KIND == _INTEGER_LIF:  # round half to even of clamp(H, 0, D)
            clamped = tl.minimum(tl.maximum(h, 0.0), levels)
            return (clamped + 12582912.0) - 12582912.0
        else:
            return ((h - v_threshold) >= 0.0).to(tl.float32)

    @triton.jit
    def _reset(h, s, v_reset, KIND: tl.constexpr):
        if KIND == _INTEGER_LIF:
            return h - s
        else:
            return h * (1.0 - s) + v_reset * s

    @triton.jit
    def _forward_kernel(x_ptr, v0_ptr, spikes_ptr, h_ptr, v_ptr, steps, m, rate, v_threshold,
                        v_reset, levels, KIND: tl.constexpr, KEEP_H: tl.constexpr,
                        KEEP_V_SEQ: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < m
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        for t in range(0, steps):
            row = t * m + offs
            x = tl.load(x_ptr + row, mask=mask, other=0.0)
            if KIND == _LIF_DECAY:
                h = v + (x - (v - v_reset)) / rate
            elif KIND == _LIF_NO_DECAY:
                h = v - (v - v_reset) / rate + x
            elif KIND == _PLIF_DECAY:
                h = v + (x - (v - v_reset)) * rate
            elif KIND == _PLIF_NO_DECAY:
                h = v - (v - v_reset) * rate + x
            else:  # _INTEGER_LIF
                h = v + (x - v) / rate
            s = _spike(h, v_threshold, levels, KIND)
            v = _reset(h, s, v_reset, KIND)
            tl.store(spikes_ptr + row, s, mask=mask)
            if KEEP_H:
                tl.store(h_ptr + row, h, mask=mask)
            if KEEP_V_SEQ:
                tl.store(v_ptr + row, v, mask=mask)
        if not KEEP_V_SEQ:
            tl.store(v_ptr + offs, v, mask=mask)

    @triton.jit
    def _backward_kernel(h_ptr, v0_ptr, x_ptr, gs_ptr, gv_seq_ptr, gv_last_ptr, gx_ptr,
                         gv0_ptr, gr_ptr, steps, m, v_threshold, v_reset, alpha, levels,
                         atan_scale, half_alpha, dh_dx, dh_dv, KIND: tl.constexpr,
                         ATAN: tl.constexpr, DETACH: tl.constexpr, LEARN_RATE: tl.constexpr,
                         HAS_X: tl.constexpr, HAS_GS: tl.constexpr, GV_SEQ: tl.constexpr,
                         GV_LAST: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < m
        if GV_LAST:
            gv = tl.load(gv_last_ptr + offs, mask=mask, other=0.0)
        else:
            gv = tl.zeros([BLOCK], dtype=tl.float32)
        gr = tl.zeros([BLOCK], dtype=tl.float32)
        v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
        for i in range(0, steps):
            t = steps - 1 - i
            row = t * m + offs
            if GV_SEQ:
                gv = gv + tl.load(gv_seq_ptr + row, mask=mask, other=0.0)
            h = tl.load(h_ptr + row, mask=mask, other=0.0)
            s = _spike(h, v_threshold, levels, KIND)
            if KIND == _INTEGER_LIF:
                sg = ((h >= 0.0) & (h <= levels)).to(tl.float32)
            elif ATAN:
                z = atan_scale * (h - v_threshold)
                sg = half_alpha / (1.0 + z * z)
            else:
                sig = 1.0 / (1.0 + tl.exp(-(alpha * (h - v_threshold))))
                sg = (1.0 - sig) * sig * alpha
            if KIND == _INTEGER_LIF:
                if DETACH:
                    dv_dh = tl.full([BLOCK], 1.0, tl.float32)
                else:
                    dv_dh = 1.0 - sg
            else:
                if DETACH:
                    dv_dh = 1.0 - s
                else:
                    dv_dh = (1.0 - s) + (v_reset - h) * sg
            gh = gv * dv_dh
            if HAS_GS:
                gh = gh + tl.load(gs_ptr + row, mask=mask, other=0.0) * sg
            tl.store(gx_ptr + row, gh * dh_dx, mask=mask)
            gv = gh * dh_dv
            if LEARN_RATE:
                previous = tl.load(h_ptr + row - m, mask=mask & (t > 0), other=0.0)
                v_prev = tl.where(t > 0,
                                  _reset(previous, _spike(previous, v_threshold, levels, KIND),
                                         v_reset, KIND), v0)
                if HAS_X:
                    x = tl.load(x_ptr + row, mask=mask, other=0.0)
                    gr = gr + gh * (x - (v_prev - v_reset))
                else:
                    gr = gr + gh * (v_reset - v_prev)
        tl.store(gv0_ptr + offs, gv, mask=mask)
        if LEARN_RATE:
            tl.store(gr_ptr + offs, gr, mask=mask)


def _charge_constants(kind: NeuronKernelKind, rate: float):
    """``dH/dX`` and ``dH/dV`` (``make_constants`` of the CPU kernel)."""
    k = 1.0 / rate if kind.divides_by_rate else rate
    return (k if kind.decays_input else 1.0), 1.0 - k


def _check(tensor: torch.Tensor, name: str) -> None:
    if not tensor.is_contiguous() or tensor.dtype != torch.float32:
        raise ValueError(f'{name} must be a contiguous float32 tensor, got {tensor.dtype} with '
                         f'strides {tuple(tensor.stride())}')


def neuron_forward(x, v0, keep_v_seq, keep_h, kind, rate, v_threshold, v_reset, atan, alpha,
                   levels, detach_reset):
    """``x [T, M]``, ``v0 [M]`` -> spikes ``[T, M]``, ``v`` (``[T, M]`` or ``[M]``), ``H``
    (``[T, M]``, empty unless ``keep_h``), as the CPU kernel's ``neuron_forward``."""
    _check(x, 'x')
    _check(v0, 'v0')
    kind = NeuronKernelKind(kind)
    steps, m = x.shape
    spikes = torch.empty_like(x)
    v_out = torch.empty_like(x) if keep_v_seq else torch.empty_like(v0)
    h_seq = torch.empty_like(x) if keep_h else x.new_empty(0)
    if x.numel():
        _forward_kernel[(triton.cdiv(m, _BLOCK), )](
            x, v0, spikes, h_seq if keep_h else spikes, v_out, steps, m, float(rate),
            float(v_threshold), float(v_reset), float(levels), KIND=int(kind),
            KEEP_H=bool(keep_h), KEEP_V_SEQ=bool(keep_v_seq), BLOCK=_BLOCK)
    elif not keep_v_seq:
        v_out.copy_(v0)
    return [spikes, v_out, h_seq]


def neuron_backward(h_seq, v0, x, grad_spikes, grad_v_out, v_seq_grad, learn_rate, kind, rate,
                    v_threshold, v_reset, atan, alpha, levels, detach_reset):
    """The reverse loop, as the CPU kernel's ``neuron_backward``: ``grad_x [T, M]``,
    ``grad_v0 [M]`` and (``learn_rate``) the per-element sums of ``gH dH/dk``."""
    _check(h_seq, 'h_seq')
    _check(v0, 'v0')
    kind = NeuronKernelKind(kind)
    if learn_rate and not kind.learns_rate:
        raise ValueError(f'a learnable rate is only implemented for PLIF (kind PLIF_DECAY or '
                         f'PLIF_NO_DECAY), got kind {kind.name}')
    steps, m = h_seq.shape
    has_x = learn_rate and kind == NeuronKernelKind.PLIF_DECAY
    has_gs = grad_spikes.numel() > 0
    has_gv = grad_v_out.numel() > 0
    for name, tensor, used in (('x', x, has_x), ('grad_spikes', grad_spikes, has_gs),
                               ('grad_v_out', grad_v_out, has_gv)):
        if used:
            _check(tensor, name)
    grad_x = torch.empty_like(h_seq)
    grad_v0 = torch.empty_like(v0)
    grad_rate = torch.empty_like(v0) if learn_rate else v0.new_empty(0)
    dh_dx, dh_dv = _charge_constants(kind, float(rate))
    if m:
        _backward_kernel[(triton.cdiv(m, _BLOCK), )](
            h_seq, v0, x if has_x else h_seq, grad_spikes if has_gs else h_seq,
            grad_v_out if has_gv and v_seq_grad else h_seq,
            grad_v_out if has_gv and not v_seq_grad else v0, grad_x, grad_v0,
            grad_rate if learn_rate else grad_v0, steps, m, float(v_threshold), float(v_reset),
            float(alpha), float(levels), float(math.pi / 2 * alpha), float(alpha / 2),
            float(dh_dx), float(dh_dv), KIND=int(kind), ATAN=bool(atan),
            DETACH=bool(detach_reset), LEARN_RATE=bool(learn_rate), HAS_X=bool(has_x),
            HAS_GS=bool(has_gs), GV_SEQ=bool(has_gv and v_seq_grad),
            GV_LAST=bool(has_gv and not v_seq_grad), BLOCK=_BLOCK)
    return [grad_x, grad_v0, grad_rate]
