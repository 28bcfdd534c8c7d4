import torch
from mmengine.model import BaseModule
from torch import nn

from ..models.layers import SeqToANN, build_neuron, check_video_input
from ..models.neurons import reset_neurons
from ..registry import MODELS

# arch -> (stem width, stage widths); every stage halves the resolution
ARCHS = {
    'tiny': (16, (32, 64)),
    'small': (32, (64, 128, 256)),
}


@MODELS.register_module()
class SpikingConvNet(BaseModule):
    """A small spiking convolutional network over video frames (a baseline and the demo model).

    Each frame is one time step; frames enter as real values (direct encoding) through a conv +
    BN stem, then every stage is ``neuron -> conv 3x3 stride 2 -> BN`` followed by a residual
    ``neuron -> conv 3x3 -> BN``.  Neuron states are reset at the start of every forward.

    Args:
        arch (str | dict): ``'tiny'`` or ``'small'``, or ``dict(stem=int, widths=[...])``.
        in_channels (int): input channels. Defaults to 3.
        neuron_cfg (dict): multi-step neuron. Defaults to PLIF (init_tau 2, ATan alpha 2).
        init_cfg (dict | list, optional): mmengine initialisation config.

    Input ``(N, C, T, H, W)`` (MMAction2's NCTHW); output ``[T, N, C_out, H', W']``.
    """

    def __init__(self, arch='tiny', in_channels=3,
                 neuron_cfg=dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0)),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f'unknown arch {arch!r}; expected one of {sorted(ARCHS)} '
                                 f'or dict(stem=..., widths=[...])')
            stem_width, widths = ARCHS[arch]
        else:
            stem_width, widths = arch['stem'], tuple(arch['widths'])
        self.in_channels = in_channels
        self.stem = SeqToANN(nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False),
                             nn.BatchNorm2d(stem_width))
        self.downsamples = nn.ModuleList()
        self.blocks = nn.ModuleList()
        prev = stem_width
        for width in widths:
            self.downsamples.append(nn.Sequential(
                build_neuron(neuron_cfg),
                SeqToANN(nn.Conv2d(prev, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width))))
            self.blocks.append(nn.Sequential(
                build_neuron(neuron_cfg),
                SeqToANN(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))))
            prev = width
        self.out_channels = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_video_input(self, x, self.in_channels)
        reset_neurons(self)
        x = x.permute(2, 0, 1, 3, 4).contiguous()  # [T, N, C, H, W]
        x = self.stem(x)
        for downsample, block in zip(self.downsamples, self.blocks):
            x = downsample(x)
            x = x + block(x)
        return x
