"""Lossless storage of spike tensors in the bits they need, and the tensors autograd saves for
backward stored that way.

A binary spike needs 1 bit, an integer spike of I-LIF (values ``0..D``) ``ceil(log2(D + 1))``
bits; a float32 tensor spends 32.  :func:`pack_spikes` / :func:`unpack_spikes` convert exactly
(same values, dtype, shape and strides back); :func:`compressed_saved_spikes` packs every spike
tensor autograd saves for backward (the inputs of convolutions and products after a neuron) and
unpacks it when backward needs it, so training keeps 1/32 of their memory (float32, binary
spikes) and computes the same gradients bit for bit.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch

#: Saved tensors smaller than this (elements) are kept as they are: packing them saves little.
MIN_PACKED_ELEMENTS = 4096


def spike_bits(max_spike_value: int) -> int:
    """Bits per spike of values ``0..max_spike_value``: ``ceil(log2(max_spike_value + 1))``."""
    if int(max_spike_value) < 1:
        raise ValueError(f'max_spike_value must be >= 1, got {max_spike_value}')
    return max(1, math.ceil(math.log2(int(max_spike_value) + 1)))


@dataclass
class PackedSpikes:
    """A spike tensor in ``bits`` bits per element: ``data`` holds bit plane ``b`` (the bits of
    weight ``2**b`` of every element, in the element order of the original memory layout) at
    ``data[b]``, 8 elements per byte; ``shape`` / ``stride`` / ``dtype`` / ``device`` restore the
    original tensor."""

    data: torch.Tensor  # uint8 [bits, ceil(numel / 8)]
    bits: int
    numel: int
    shape: Tuple[int, ...]
    stride: Tuple[int, ...]
    dtype: torch.dtype
    requires_grad: bool = False

    @property
    def nbytes(self) -> int:
        return self.data.numel()


def _bit_weights(device) -> torch.Tensor:
    return (2 ** torch.arange(8, dtype=torch.int32, device=device)).to(torch.uint8)


def _dense_view(x: torch.Tensor) -> torch.Tensor:
    """``x``'s elements in the order of its memory (a 1-D view), for a tensor whose strides
    cover its storage without overlap or gaps (contiguous in some dimension order)."""
    order = sorted(range(x.dim()), key=lambda d: x.stride(d), reverse=True)
    return x.permute(order).reshape(-1) if x.dim() else x.reshape(-1)


def is_dense(x: torch.Tensor) -> bool:
    """Whether ``x``'s strides are a permutation of a contiguous layout (no gaps, no overlap):
    then :func:`pack_spikes` restores them exactly."""
    if x.dim() == 0:
        return True
    dims = sorted((x.stride(d), x.shape[d]) for d in range(x.dim()) if x.shape[d] != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def _pack_planes(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Bit planes ``[bits, ceil(n / 8)]`` (uint8, element ``i`` at bit ``i % 8`` of byte
    ``i // 8``) of the 1-D non-negative integer (or bool) tensor ``values``: numpy's packbits
    on the CPU (one pass, no int32 temporaries), PyTorch operations elsewhere."""
    if values.device.type == 'cpu':
        return _pack_planes_numpy(values, bits)
    return _pack_planes_torch(values, bits)


def _pack_planes_numpy(values: torch.Tensor, bits: int) -> torch.Tensor:
    import numpy as np
    if values.dtype == torch.bool:
        planes = [values.numpy()]
    else:
        planes = [((values >> bit) & 1).to(torch.bool).numpy() for bit in range(bits)]
    return torch.from_numpy(np.stack([np.packbits(p, bitorder='little') for p in planes]))


def _pack_planes_torch(values: torch.Tensor, bits: int) -> torch.Tensor:
    values = values.to(torch.int32)
    pad = (-values.numel()) % 8
    if pad:
        values = torch.cat([values, values.new_zeros(pad)])
    weights = _bit_weights(values.device)
    planes = []
    for bit in range(bits):
        plane = ((values >> bit) & 1).to(torch.uint8).view(-1, 8)
        planes.append((plane * weights).sum(1, dtype=torch.uint8))
    return torch.stack(planes)


def pack_spikes(x: torch.Tensor, max_spike_value: int = 1) -> PackedSpikes:
    """Pack ``x`` (integer values in ``0..max_spike_value``, any dtype) into
    ``ceil(log2(max_spike_value + 1))`` bit planes of 8 elements per byte.

    The caller checks that ``x`` holds spikes (:func:`mmspike.energy.is_spike_tensor`, or use
    :func:`pack_if_spikes`); values outside the range are not representable and raise.
    ``x``'s layout must be dense (:func:`is_dense`) so that :func:`unpack_spikes` gives its
    strides back.
    """
    bits = spike_bits(max_spike_value)
    if not is_dense(x):
        raise ValueError(f'pack_spikes needs a dense layout, got shape {tuple(x.shape)} with '
                         f'strides {x.stride()}')
    flat = _dense_view(x.detach())
    values = flat.to(torch.int32) if bits > 1 else flat.ne(0)
    if bits > 1 and values.numel() and (int(values.min()) < 0 or
                                        int(values.max()) > max_spike_value):
        raise ValueError(f'pack_spikes: values outside 0..{max_spike_value}')
    return _packed(x, values, bits)


def _packed(x: torch.Tensor, values: torch.Tensor, bits: int) -> PackedSpikes:
    """``x`` as :class:`PackedSpikes`, from its values in memory order (checked by the
    caller: bool for binary spikes, integers in range otherwise)."""
    return PackedSpikes(_pack_planes(values, bits), bits, x.numel(), tuple(x.shape), x.stride(),
                        x.dtype, x.requires_grad)


def pack_if_spikes(x: torch.Tensor, max_spike_value: int = 1) -> Optional[PackedSpikes]:
    """:func:`pack_spikes` of ``x`` if it is a dense floating-point tensor of spikes (every
    value an integer in ``0..max_spike_value``), else None.  For binary spikes the check and
    the packing share one comparison pass."""
    if not (x.dtype.is_floating_point and is_dense(x)):
        return None
    bits = spike_bits(max_spike_value)
    flat = _dense_view(x.detach())
    if bits > 1:
        if not _holds_spikes(x, max_spike_value):
            return None
        return _packed(x, flat.to(torch.int32), bits)
    ones = flat == 1
    if not bool((ones | (flat == 0)).all()):
        return None
    return _packed(x, ones, 1)


def unpack_spikes(packed: PackedSpikes) -> torch.Tensor:
    """The tensor :func:`pack_spikes` packed: same values, dtype, shape and strides."""
    out = torch.empty_strided(packed.shape, packed.stride, dtype=packed.dtype,
                              device=packed.data.device)
    unpack = _unpack_values_numpy if packed.data.device.type == 'cpu' else _unpack_values_torch
    _dense_view(out).copy_(unpack(packed))
    return out


def _unpack_values_numpy(packed: PackedSpikes) -> torch.Tensor:
    """The packed values, 1-D in memory order (uint8 for binary spikes, else int32)."""
    import numpy as np
    values = None
    for bit in range(packed.bits):
        plane = torch.from_numpy(np.unpackbits(packed.data[bit].numpy(), count=packed.numel,
                                               bitorder='little'))
        values = plane if bit == 0 else values.to(torch.int32) + (plane.to(torch.int32) << bit)
    return values


def _unpack_values_torch(packed: PackedSpikes) -> torch.Tensor:
    weights = _bit_weights(packed.data.device)
    values = torch.zeros(packed.numel, dtype=torch.int32, device=packed.data.device)
    for bit in range(packed.bits):
        plane = (packed.data[bit].unsqueeze(1) & weights).ne(0).reshape(-1)[:packed.numel]
        values = values + (plane.to(torch.int32) << bit)
    return values


def _holds_spikes(x: torch.Tensor, max_spike_value: int) -> bool:
    from mmspike.energy.ops import is_spike_tensor  # the one rule of what a spike tensor is
    return is_spike_tensor(x, max_spike_value)


@contextmanager
def compressed_saved_spikes(max_spike_value: int = 1,
                            min_elements: int = MIN_PACKED_ELEMENTS) -> Iterator[dict]:
    """Inside this context every floating-point tensor autograd saves for backward that holds
    spikes (values ``0..max_spike_value``, :func:`mmspike.energy.is_spike_tensor`) and has at
    least ``min_elements`` elements is kept packed (:func:`pack_spikes`) and unpacked exactly
    when backward reads it; other tensors are kept as they are.

    Yields a dict of statistics, updated as tensors are saved: ``packed`` (tensors),
    ``dense_bytes`` (their bytes unpacked) and ``packed_bytes``.

    Example::

        with compressed_saved_spikes(spike_value_range(model)):
            loss = criterion(model(x), y)
        loss.backward()     # outside the context: the packed tensors unpack themselves
    """
    stats = dict(packed=0, dense_bytes=0, packed_bytes=0)

    def pack(x: torch.Tensor):
        packed = pack_if_spikes(x, max_spike_value) if x.numel() >= min_elements else None
        if packed is not None:
            stats['packed'] += 1
            stats['dense_bytes'] += x.numel() * x.element_size()
            stats['packed_bytes'] += packed.nbytes
            return packed
        return x

    def unpack(saved):
        return unpack_spikes(saved) if isinstance(saved, PackedSpikes) else saved

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield stats
