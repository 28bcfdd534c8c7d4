"""Per-time-step BatchNorm on channel-innermost memory, without layout copies.

SVFormer normalises every (time step ``t``, channel ``c``) pair with its own statistics and
affine parameters.  Its maps are ``[T, B, C, H, W]`` stored channels-last (memory order
``t, b, h, w, c``) and its tokens ``[T, B, L, C]``; both are, in memory, a ``[T, M, C]`` array
with ``M = B * H * W`` (or ``B * L``).  Normalising that array directly over ``M`` gives the
same result as viewing the tensor as ``[B, T * C, ...]`` for ``nn.BatchNorm`` but needs no
transposed copy before and after, forward or backward (the copies were about a third of a
training step of SVFormer base on the CPU).

For ``x`` of shape ``[T, M, C]``, in training mode::

    mu[t, c]     = mean_m x[t, m, c]
    var[t, c]    = mean_m (x[t, m, c] - mu[t, c])^2                  (biased, as BatchNorm)
    y[t, m, c]   = (x[t, m, c] - mu[t, c]) / sqrt(var[t, c] + eps) * w[t, c] + b[t, c]

and the running statistics move by ``momentum`` towards ``mu`` and the unbiased variance
``var * M / (M - 1)``.  In eval mode ``mu`` and ``var`` are the running statistics.

In training mode on the CPU (float32, float64) forward and backward run in the compiled kernel
(``temporal_bn_forward`` / ``temporal_bn_backward`` in ``csrc/neuron_cpu.cpp``, built with the
neurons' kernels): two passes over the memory each way, the sums in double around a
per-channel shift (no cancellation when the mean is large against the spread).  Elsewhere
(CUDA, no compiler) the same formulas run as PyTorch operations.  On SVFormer base's maps the
kernel's forward + backward is 3-4x faster than PyTorch operations and than the copying
``[B, T*C, ...]`` path (``[16, 2, 128, 56, 56]`` on 2 CPU cores: 138 ms against 376 and
523 ms; docs/models.md).
"""
from typing import Optional

import torch


def _cpu_kernels(x: torch.Tensor, weight: Optional[torch.Tensor]):
    """The compiled kernels (``csrc/neuron_cpu.cpp``) when they apply to ``x``, else None."""
    if (not _USE_KERNELS or x.device.type != 'cpu'
            or x.dtype not in (torch.float32, torch.float64)):
        return None
    if weight is not None and weight.dtype != x.dtype:
        return None
    from .neuron_kernels import load_cpu_kernels
    return load_cpu_kernels()


#: False: always the PyTorch-operations path (tests compare both)
_USE_KERNELS = True
_EMPTY = torch.empty(0)


class _TemporalBatchNormTrain(torch.autograd.Function):
    """Training-mode forward and backward with batch statistics (formula in the module doc):
    the compiled CPU kernel (two passes over the memory each way) where it is built, else
    PyTorch operations."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ctx.has_bias = bias is not None
        kernels = _cpu_kernels(x, weight)
        ctx.kernels = kernels
        if kernels is not None:
            y, mean, var, invstd = kernels.temporal_bn_forward(
                x, _EMPTY.to(x.dtype) if weight is None else weight.contiguous(),
                _EMPTY.to(x.dtype) if bias is None else bias.to(x.dtype).contiguous(), eps)
            ctx.save_for_backward(x, weight, mean, invstd)
            ctx.mark_non_differentiable(mean, var)
            return y, mean, var
        var, mean = torch.var_mean(x, dim=1, unbiased=False)
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        shift = -mean * scale
        if bias is not None:
            shift = shift + bias
        y = torch.addcmul(shift.unsqueeze(1), x, scale.unsqueeze(1))
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        count = x.shape[1]
        grad_y = grad_y.contiguous()
        if ctx.kernels is not None:
            grad_x, sum_dy, sum_dy_xhat = ctx.kernels.temporal_bn_backward(
                grad_y, x, mean, invstd, _EMPTY.to(x.dtype) if weight is None else weight,
                ctx.needs_input_grad[0])
            return (grad_x if ctx.needs_input_grad[0] else None,
                    sum_dy_xhat if weight is not None and ctx.needs_input_grad[1] else None,
                    sum_dy if ctx.has_bias and ctx.needs_input_grad[2] else None, None)
        sum_dy = grad_y.sum(1)
        # sum_m dy * xhat = invstd * (sum_m dy * x - mean * sum_m dy)
        sum_dy_xhat = invstd * ((grad_y * x).sum(1) - mean * sum_dy)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            scale = invstd if weight is None else invstd * weight
            # dx = scale * (dy - sum_dy / M - xhat * sum_dy_xhat / M), written as
            # dx = scale * dy + a * x + c with per-(t, c) coefficients a and c
            coef_x = -scale * invstd * sum_dy_xhat / count
            coef_0 = -scale * sum_dy / count - coef_x * mean
            grad_x = torch.addcmul(coef_0.unsqueeze(1), grad_y, scale.unsqueeze(1))
            grad_x.addcmul_(x, coef_x.unsqueeze(1))
        if weight is not None and ctx.needs_input_grad[1]:
            grad_weight = sum_dy_xhat
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = sum_dy
        return grad_x, grad_weight, grad_bias, None


def temporal_batch_norm(x: torch.Tensor, running_mean: Optional[torch.Tensor],
                        running_var: Optional[torch.Tensor], weight: Optional[torch.Tensor],
                        bias: Optional[torch.Tensor], training: bool, momentum: float,
                        eps: float) -> torch.Tensor:
    """BatchNorm of ``x`` ``[T, M, C]`` (contiguous) per ``(t, c)``, see the module doc.

    Args:
        x (Tensor): ``[T, M, C]``, contiguous.
        running_mean, running_var (Tensor, optional): ``[T, C]`` (contiguous), updated in
            place in training mode; None: always use batch statistics.
        weight, bias (Tensor, optional): ``[T, C]`` affine parameters, or None.
        training (bool): use (and track) batch statistics.
        momentum (float): running-statistics update factor (as ``F.batch_norm``).
        eps (float): added to the variance.

    Returns:
        Tensor: ``[T, M, C]``, contiguous.
    """
    if x.dim() != 3 or not x.is_contiguous():
        raise ValueError(f'temporal_batch_norm expects a contiguous [T, M, C] tensor, got shape '
                         f'{tuple(x.shape)} with strides {x.stride()}')
    if training or running_mean is None:
        count = x.shape[1]
        if training and count < 2:
            raise ValueError(f'Expected more than 1 value per channel when training, got '
                             f'M={count} values per (time step, channel) (shape '
                             f'{tuple(x.shape)})')
        y, mean, var = _TemporalBatchNormTrain.apply(x, weight, bias, eps)
        if training and running_mean is not None:
            with torch.no_grad():
                running_mean.lerp_(mean.to(running_mean.dtype), momentum)
                unbiased = var * (count / (count - 1))
                running_var.lerp_(unbiased.to(running_var.dtype), momentum)
        return y
    invstd = torch.rsqrt(running_var + eps)
    scale = invstd if weight is None else invstd * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    return torch.addcmul(shift.unsqueeze(1), x, scale.unsqueeze(1))
