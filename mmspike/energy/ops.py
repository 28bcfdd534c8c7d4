"""Operation counts of one convolution or matrix product, from the tensors that actually flowed.

Convention (the one every mmspike report uses):

* A convolution or matrix product whose activation operand holds *spikes* (values in
  ``{0, 1, ..., max_spike_value}``; binary by default) performs one accumulate (AC) for every
  (non-zero input, weight) pair that contributes to an output:
  ``ACs = sum over non-zero inputs of their fan-out``, counted exactly, borders and strides
  included.  If both operands are spikes, only pairs where both are non-zero count.
* With real-valued operands it performs the dense number of multiply-accumulates (MACs):
  ``MACs = (outputs) x (inputs per output)``.
* Energy = ``E_MAC x MACs + E_AC x ACs``.  Bias additions, normalisation, neuron updates and
  other element-wise operations are not counted (docs/energy.md).
"""
from __future__ import annotations

from math import prod

import torch
import torch.nn.functional as F

_CONV_BY_DIMS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE_BY_DIMS = {1: F.conv_transpose1d, 2: F.conv_transpose2d,
                           3: F.conv_transpose3d}


def is_spike_tensor(x: torch.Tensor, max_spike_value: int = 1) -> bool:
    """True if every element of ``x`` is an integer in ``[0, max_spike_value]`` (or ``x`` is bool).

    ``max_spike_value=1`` accepts binary spikes only; integer neurons with D levels
    (values ``0..D``) need ``max_spike_value=D``.
    """
    if x.dtype == torch.bool:
        return True
    if x.numel() == 0:
        return True
    if not x.dtype.is_floating_point and x.dtype not in (torch.int8, torch.int16, torch.int32,
                                                         torch.int64, torch.uint8):
        return False
    if max_spike_value == 1:
        return bool(((x == 0) | (x == 1)).all())
    return bool(((x >= 0) & (x <= max_spike_value) & (x == torch.round(x))).all()) \
        if x.dtype.is_floating_point else bool(((x >= 0) & (x <= max_spike_value)).all())


def _spike_mass(x: torch.Tensor) -> torch.Tensor:
    """Float32 copy of a spike tensor in which each element counts its binary spikes: 0/1 for
    binary or bool spikes, ``s`` for an integer spike ``s``."""
    return x.to(torch.float32)


def conv_dense_macs(weight_shape, output_shape) -> int:
    """MACs of a dense convolution: ``N x C_out x prod(out spatial) x (C_in / groups) x prod(k)``.

    ``weight_shape`` is ``(C_out, C_in / groups, *kernel)``; ``output_shape`` ``(N, C_out, *S)``.
    For a transposed convolution pass the *input* shape as ``output_shape`` (every input element
    is scattered through the whole kernel).
    """
    batch, _, *spatial = output_shape
    out_channels, in_per_group, *kernel = weight_shape
    return int(batch) * int(out_channels) * prod(spatial) * int(in_per_group) * prod(kernel)


def conv_synaptic_ops(active: torch.Tensor, weight_shape, stride, padding, dilation,
                      groups: int, transposed: bool = False, output_padding=0) -> int:
    """Exact number of (non-zero input, weight) pairs a convolution uses.

    ``ACs = sum_{n, g, output position p} sum_{kernel tap k} [x_{n, c, p*s + k*d - pad} != 0
    for c in group g] x (C_out / groups)``, i.e. every non-zero input is charged once per output
    channel of its group and per output position its kernel window reaches.  Computed as a
    box filter of the per-group count of non-zero inputs, which equals (but is much cheaper
    than) convolving the non-zero mask with an all-ones kernel.

    Integer spikes (I-LIF, values ``0..D``) are charged by value: a spike ``s`` stands for ``s``
    binary sub-steps (the paper counts integer spikes as D binary time steps), so it counts
    ``s`` times; binary spikes count once.

    Args:
        active: ``(N, C_in, *S)`` spike tensor (binary, bool or non-negative integers).
        weight_shape: ``(C_out, C_in / groups, *kernel)`` (``(C_in, C_out / groups, *kernel)``
            when ``transposed``).
    """
    spatial_dims = active.dim() - 2
    mask = _spike_mass(active)
    if transposed:
        in_channels, out_per_group, *kernel = weight_shape
        ones = torch.ones((in_channels, 1, *kernel), dtype=torch.float32, device=mask.device)
        reach = _CONV_TRANSPOSE_BY_DIMS[spatial_dims](
            mask, ones, stride=stride, padding=padding, output_padding=output_padding,
            groups=in_channels, dilation=dilation)
        return int(reach.sum(dtype=torch.float64).item()) * int(out_per_group)
    out_channels, in_per_group, *kernel = weight_shape
    batch, channels, *spatial = mask.shape
    per_group = mask.reshape(batch, groups, channels // groups, *spatial).sum(2)
    window = torch.ones((groups, 1, *kernel), dtype=torch.float32, device=mask.device)
    counts = _CONV_BY_DIMS[spatial_dims](per_group, window, stride=stride, padding=padding,
                                         dilation=dilation, groups=groups)
    return int(counts.sum(dtype=torch.float64).item()) * (int(out_channels) // groups)


def matmul_counts(a: torch.Tensor, b: torch.Tensor, a_spikes: bool, b_spikes: bool):
    """``(MACs, ACs)`` of ``a @ b`` for ``a: [..., m, k]``, ``b: [..., k, n]``.

    Integer spikes count by value (``nnz`` below is then the sum of spike values: a spike ``s``
    is ``s`` binary sub-steps).  Real x real: ``MACs = batch x m x k x n``.  Spikes x real:
    ``ACs = nnz(a) x n`` (resp. ``nnz(b) x m``).  Spikes x spikes:
    ``ACs = sum_k nnz(a[..., :, k]) x nnz(b[..., k, :])`` (the pairs where both factors are
    non-zero; for binary operands this is ``(a @ b).sum()``).
    """
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    if a_spikes and b_spikes:
        a_cols = _spike_mass(a).sum(-2, dtype=torch.float64)  # [..., k]
        b_rows = _spike_mass(b).sum(-1, dtype=torch.float64)  # [..., k]
        return 0, int(round((a_cols * b_rows).sum().item()))
    if a_spikes:
        scale = batch // prod(a.shape[:-2]) if a.dim() > 2 else batch
        return 0, int(round(_spike_mass(a).sum(dtype=torch.float64).item())) * int(n) \
            * int(scale)
    if b_spikes:
        scale = batch // prod(b.shape[:-2]) if b.dim() > 2 else batch
        return 0, int(round(_spike_mass(b).sum(dtype=torch.float64).item())) * int(m) \
            * int(scale)
    return int(batch) * int(m) * int(k) * int(n), 0
