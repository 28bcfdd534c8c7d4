"""Spike-driven all-MLP decode head for video semantic segmentation (MMSeg head)."""
from __future__ import annotations

from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ...layers.temporal import SeqToANN
from ...neurons import LIF_SIGMOID, build_neuron


@MODELS.register_module()
class SpikeSegformerHead(BaseDecodeHead):
    """Per-frame segmentation logits from a spiking video backbone's multi-scale maps.

    The spike-driven counterpart of MMSeg's ``SegformerHead``: every selected map
    ``[T, N, C_i, H_i, W_i]`` goes through a neuron, a 1x1 convolution and BatchNorm to
    ``channels``, is resized to the size of the first (finest) selected map, the maps are
    concatenated and fused by neuron -> 1x1 conv -> BN, and a last neuron feeds MMSeg's
    classifier (``cls_seg``: dropout and a 1x1 conv).  Every convolution therefore sees spikes
    (accumulate-only on neuromorphic hardware), as in the backbone; the resizing moves real
    values (BN outputs), as SegFormer resizes after its MLPs.  With ``output_neuron=False`` the
    classifier reads the fused BN output itself (real-valued: ``channels x K`` MACs per
    pixel, counted as such by the energy tools), which learns faster on small models. Neurons run
    multi-step over the clip's T frames, so the head's state carries from frame to frame like the
    backbone's.

    Output: ``[N * T, num_classes, H_0, W_0]``, clip-major (row ``n * T + t`` is frame ``t`` of
    clip ``n``), i.e. one image per frame: MMSeg's ``loss_by_feat`` and ``predict_by_feat`` run
    unchanged on it with one data sample per frame
    (:class:`mmspike.estimators.seg.VideoEncoderDecoder` makes them).

    Args:
        in_channels (Sequence[int]): channels of the selected maps, e.g. the backbone's
            ``embed_dims`` for ``in_index=(0, 1, 2, 3)``.
        channels (int): channels of the per-scale projections and of the fused map.
        num_classes (int): classes K.
        in_index (Sequence[int]): which maps of the backbone's tuple to use. Defaults to
            ``(0, 1, 2, 3)``.
        neuron_cfg (dict): the head's neurons, e.g. ``dict(type='ILIF', levels=4)`` for the
            backbone's I-LIF. Defaults to LIF with a sigmoid surrogate (the backbone's default).
        interpolate_mode (str): mode of the resizing. Defaults to ``'bilinear'``.
        output_neuron (bool): put a neuron before the classifier (every layer spike-driven).
            Defaults to True.
        **kwargs: the rest of ``BaseDecodeHead``'s arguments (``dropout_ratio``, ``loss_decode``,
            ``ignore_index``, ``align_corners``, ``init_cfg``, ...).  ``input_transform`` is
            always ``'multiple_select'``.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 num_classes: int,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 neuron_cfg: dict = LIF_SIGMOID,
                 interpolate_mode: str = 'bilinear',
                 output_neuron: bool = True,
                 **kwargs):
        name = type(self).__name__
        if kwargs.pop('input_transform', 'multiple_select') != 'multiple_select':
            raise ValueError(f"{name} always uses input_transform='multiple_select'")
        in_channels, in_index = list(in_channels), list(in_index)
        if len(in_channels) != len(in_index) or not in_index:
            raise ValueError(f'{name}: in_channels {in_channels} and in_index {in_index} must '
                             f'be non-empty and of the same length')
        super().__init__(in_channels=in_channels, channels=channels, num_classes=num_classes,
                         in_index=in_index, input_transform='multiple_select', **kwargs)
        self.interpolate_mode = interpolate_mode
        self.neuron_cfg = dict(neuron_cfg)
        self.scale_neurons = nn.ModuleList(build_neuron(self.neuron_cfg) for _ in in_channels)
        self.projections = nn.ModuleList(
            SeqToANN(nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(channels))
            for c in in_channels)
        self.fusion_neuron = build_neuron(self.neuron_cfg)
        self.fusion = SeqToANN(nn.Conv2d(channels * len(in_channels), channels, 1, bias=False),
                               nn.BatchNorm2d(channels))
        self.output_neuron = build_neuron(self.neuron_cfg) if output_neuron else nn.Identity()

    def _check_maps(self, maps: List[Tensor]) -> None:
        name = type(self).__name__
        steps_batch = None
        for index, x, channels in zip(self.in_index, maps, self.in_channels):
            if not torch.is_tensor(x) or x.dim() != 5 or x.shape[2] != channels:
                shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
                raise ValueError(f'{name} expects map {index} as [T, N, C={channels}, H, W] (a '
                                 f"spiking video backbone's layout), got {shape}")
            if steps_batch is None:
                steps_batch = x.shape[:2]
            elif x.shape[:2] != steps_batch:
                raise ValueError(f'{name}: map {index} has [T, N] = {list(x.shape[:2])}, the '
                                 f'first map {list(steps_batch)}')

    def forward(self, inputs: Union[Sequence[Tensor], Tensor]) -> Tensor:
        """Tuple of ``[T, N, C_i, H_i, W_i]`` maps -> logits ``[N * T, K, H_0, W_0]``."""
        if torch.is_tensor(inputs) or not isinstance(inputs, (list, tuple)):
            raise TypeError(f'{type(self).__name__} expects the tuple of backbone maps, got '
                            f'{type(inputs).__name__}')
        if len(inputs) <= max(self.in_index):
            raise ValueError(f'{type(self).__name__}: in_index {self.in_index} needs at least '
                             f'{max(self.in_index) + 1} maps, got {len(inputs)} (check the '
                             f"backbone's out_indices)")
        maps = self._transform_inputs(inputs)
        self._check_maps(maps)
        steps, batch = maps[0].shape[:2]
        size = maps[0].shape[3:]
        outs = []
        for x, neuron, project in zip(maps, self.scale_neurons, self.projections):
            x = project(neuron(x)).flatten(0, 1)
            if x.shape[2:] != size:
                x = F.interpolate(x, size=size, mode=self.interpolate_mode,
                                  align_corners=self.align_corners
                                  if self.interpolate_mode in ('bilinear', 'bicubic') else None)
            outs.append(x.unflatten(0, (steps, batch)))
        x = self.fusion(self.fusion_neuron(torch.cat(outs, dim=2)))
        x = self.output_neuron(x)                                   # [T, N, channels, H, W]
        logits = self.cls_seg(x.flatten(0, 1)).unflatten(0, (steps, batch))
        return logits.transpose(0, 1).flatten(0, 1)                 # [N * T, K, H, W]
