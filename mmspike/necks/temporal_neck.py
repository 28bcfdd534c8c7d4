from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule

from ..registry import MODELS

MODES = ('fold', 'mean', 'last', 'stack')


@MODELS.register_module()
class TemporalNeck(BaseModule):
    """Turn a spiking backbone's multi-step maps into what image- or video-style heads take.

    Input: a tuple of ``[T, N, C, H, W]`` maps (all with the same ``T`` and ``N``), as every
    mmspike backbone returns.  Output: a tuple of the same length with, per map,

    * ``'fold'``: ``[N * T, C, H, W]``, time folded into the batch sample-major (row
      ``n * T + t`` is frame ``t`` of clip ``n``), for heads that predict per frame (pose per
      frame, segmentation per frame) with image heads;
    * ``'mean'``: ``[N, C, H, W]``, the average over the T steps (for spikes: the firing rate);
    * ``'last'``: ``[N, C, H, W]``, the last step (the state after the whole clip);
    * ``'stack'``: ``[N, C, T, H, W]``, a video tensor for 3D heads.

    Args:
        mode (str): 'fold' | 'mean' | 'last' | 'stack'. Defaults to 'fold'.
        in_index (int | Sequence[int], optional): keep only these maps. Defaults to None (all).
        num_frames (int, optional): if given, maps with another T raise an error.
            Defaults to None.
        init_cfg (dict, optional): mmengine init config (the neck has no parameters).
    """

    def __init__(self, mode: str = 'fold', in_index: Optional[Union[int, Sequence[int]]] = None,
                 num_frames: Optional[int] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if mode not in MODES:
            raise ValueError(f'TemporalNeck: unknown mode {mode!r}; expected one of {MODES}')
        self.mode = mode
        self.in_index = (in_index, ) if isinstance(in_index, int) else in_index
        self.num_frames = num_frames

    def _check(self, maps):
        if torch.is_tensor(maps):
            maps = (maps, )
        if not isinstance(maps, (tuple, list)) or not maps:
            raise TypeError(f'TemporalNeck expects a tuple of [T, N, C, H, W] maps, got '
                            f'{type(maps).__name__}')
        for i, x in enumerate(maps):
            if not torch.is_tensor(x) or x.dim() != 5:
                shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
                raise ValueError(f'TemporalNeck expects [T, N, C, H, W] maps, map {i} is {shape}')
        steps, batch = maps[0].shape[:2]
        for i, x in enumerate(maps):
            if x.shape[:2] != (steps, batch):
                raise ValueError(f'TemporalNeck: map {i} has (T, N) = {tuple(x.shape[:2])}, '
                                 f'map 0 has {(steps, batch)}')
        if self.num_frames is not None and steps != self.num_frames:
            raise ValueError(f'TemporalNeck was built for T={self.num_frames}, got T={steps}')
        if self.in_index is not None:
            bad = [i for i in self.in_index if not -len(maps) <= i < len(maps)]
            if bad:
                raise IndexError(f'TemporalNeck: in_index {bad} out of range for {len(maps)} maps')
            maps = [maps[i] for i in self.in_index]
        return maps

    def forward(self, maps) -> Tuple[torch.Tensor, ...]:
        outs = []
        for x in self._check(maps):
            if self.mode == 'fold':
                outs.append(x.transpose(0, 1).flatten(0, 1))
            elif self.mode == 'mean':
                outs.append(x.mean(dim=0))
            elif self.mode == 'last':
                outs.append(x[-1])
            else:
                outs.append(x.permute(1, 2, 0, 3, 4))
        return tuple(outs)
