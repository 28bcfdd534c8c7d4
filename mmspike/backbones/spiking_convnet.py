from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..layers.checkpoint import NeuronThenLayer
from ..layers.temporal import SeqToANN, check_video_input
from ..neurons import PLIF_ATAN, build_neuron
from ..registry import MODELS
from .base import BaseSpikingBackbone


@MODELS.register_module()
class SpikingConvNet(BaseSpikingBackbone):
    """A small spiking convolutional network over video frames (a baseline and the demo model).

    Each frame is one time step; frames enter as real values (direct encoding) through a conv +
    BN stem of ``embed_dims[0] / 2`` channels, then every stage is ``neuron -> conv 3x3 stride 2
    -> BN`` followed by ``depths[i]`` residual ``neuron -> conv 3x3 -> BN`` blocks.  Neuron
    states are reset at the start of every forward.

    Args:
        arch (str | dict): ``'tiny'`` or ``'small'``, or a dict with ``embed_dims`` and
            ``depths`` (one entry per stage). Defaults to 'tiny'.
        in_channels (int): input channels. Defaults to 3.
        neuron_cfg (dict): multi-step neuron. Defaults to
            :data:`~mmspike.neurons.multistep.PLIF_ATAN`.
        out_indices (int | Sequence[int]): stages to return. Defaults to -1 (the last).
        frozen_stages (int): -1 (nothing), 0 (the stem) or i (stem and stages 0..i-1).
            Defaults to -1.
        norm_eval (bool): keep BatchNorms in eval mode while training. Defaults to False.
        with_cp (bool): the same as ``memory=dict(checkpoint='block')``. Defaults to False.
        compress_spikes (bool): the same as ``memory=dict(compress_spikes=True)``.
            Defaults to False.
        memory (dict, optional): the memory policy of training (see
            :class:`~mmspike.backbones.base.BaseSpikingBackbone`). Defaults to None.
        init_cfg (dict | list, optional): mmengine initialisation config. Defaults to None.

    Input ``(N, C, T, H, W)`` (MMAction2's NCTHW); output a tuple of ``[T, N, C_i, H_i, W_i]``.
    """

    arch_zoo = {
        'tiny': dict(embed_dims=(32, 64), depths=(1, 1)),
        'small': dict(embed_dims=(64, 128, 256), depths=(1, 1, 1)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 neuron_cfg: dict = PLIF_ATAN,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 compress_spikes: bool = False,
                 memory: Optional[dict] = None,
                 init_cfg=None):
        arch = self.resolve_arch(arch)
        widths, depths = arch['embed_dims'], arch['depths']
        if len(widths) != len(depths) or not widths:
            raise ValueError(f'SpikingConvNet: arch needs one depth per width, got {widths}, '
                             f'{depths}')
        super().__init__(len(widths), out_indices, frozen_stages, norm_eval, with_cp, init_cfg,
                         compress_spikes=compress_spikes, memory=memory)
        stem_width = widths[0] // 2
        self.in_channels = in_channels
        self.stem = SeqToANN(nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False),
                             nn.BatchNorm2d(stem_width))
        self.downsamples = nn.ModuleList()
        self.blocks = nn.ModuleList()
        prev = stem_width
        for width, depth in zip(widths, depths):
            self.downsamples.append(NeuronThenLayer(
                build_neuron(neuron_cfg),
                SeqToANN(nn.Conv2d(prev, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width))))
            self.blocks.append(nn.ModuleList([_ResidualBlock(width, neuron_cfg)
                                              for _ in range(depth)]))
            prev = width
        self.stage_channels = widths
        self.out_channels = prev
        self._pin_contiguous_maps()  # the layers exist now (the policy was set before them)

    def stem_and_stages(self):
        return [[self.stem]] + [[down, blocks]
                                for down, blocks in zip(self.downsamples, self.blocks)]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        check_video_input(self, x, self.in_channels)
        x = self.run_blocks([self.stem], self.to_time_major(x))
        outs = {}
        for index, (downsample, blocks) in enumerate(zip(self.downsamples, self.blocks)):
            x = self.run_blocks([downsample, *blocks], x)
            outs[index] = x
        return tuple(outs[i] for i in self.out_indices)


class _ResidualBlock(nn.Module):
    """``x + BN(conv3x3(neuron(x)))``."""

    def __init__(self, width, neuron_cfg):
        super().__init__()
        self.body = NeuronThenLayer(
            build_neuron(neuron_cfg),
            SeqToANN(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)))

    def forward(self, x):
        return x + self.body(x)
