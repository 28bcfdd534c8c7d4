from typing import Dict, Optional, Tuple, Union

import torch
from mmaction.registry import MODELS
from torch import nn

from ...neurons import PLIF_ATAN, reset_neurons
from ...layers.temporal import last_feature_map
from .spiking_cls_head import SpikingClsHead


@MODELS.register_module()
class SVFormerHead(SpikingClsHead):
    """SVFormer's classification head (Yu et al., 2024, arXiv 2406.15034).

    ``[T, N, C, H, W]`` spikes-to-be -> neuron -> as ``(N, C, T, H, W)``: grouped Conv3d with a
    ``(T, H, W)`` kernel (one output per channel, the whole clip in one step: no averaging over
    time) -> BatchNorm3d -> Linear(C, num_classes).  All layers have biases, as in the official
    code (no dropout there).  The neuron state is reset at every forward.

    Loss, accuracies, soft labels (MixUp/CutMix) and ``average_clips`` are MMAction2's
    ``BaseHead``'s (through :class:`SpikingClsHead`).

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the backbone output (1024 for ``'base'``).
            Defaults to 1024.
        num_frames (int): time steps ``T`` of the backbone output. Defaults to 16.
        feat_size (int | tuple[int, int]): spatial size of the backbone output (7 at 224).
            Defaults to 7.
        conv_groups (int, optional): groups of the Conv3d; defaults to ``in_channels // 2``
            (the official code uses the width of the last stage, 512).
        neuron_cfg (dict): neuron before the Conv3d. Defaults to
            :data:`~mmspike.neurons.multistep.PLIF_ATAN`.
        loss_cls (dict): the classification loss. Defaults to
            ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        label_smooth_eps (float): label smoothing of the cross-entropy. Defaults to 0.
        topk (tuple[int]): accuracies logged during training. Defaults to (1, 5).
        average_clips (str | None): 'score', 'prob' or None, as in MMAction2.
        init_cfg (dict, optional): defaults to a truncated normal (std 0.02, bias 0) for the
            Linear classifier, as in the official code.

    Not causal: the Conv3d mixes all T steps, so there are no per-step logits
    (:meth:`forward_steps` raises) and a recognizer with this head cannot stream.
    """

    #: the Conv3d spans all T steps: the logits depend on the whole clip
    causal = False

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 1024,
                 num_frames: int = 16,
                 feat_size: Union[int, Tuple[int, int]] = 7,
                 conv_groups: Optional[int] = None,
                 neuron_cfg: dict = PLIF_ATAN,
                 loss_cls: Dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 label_smooth_eps: float = 0.0,
                 topk: Union[int, Tuple[int, ...]] = (1, 5),
                 average_clips: Optional[str] = 'prob',
                 init_cfg: Optional[dict] = dict(type='TruncNormal', layer='Linear', std=0.02,
                                                 bias=0.0)):
        super().__init__(num_classes=num_classes, in_channels=in_channels, neuron_cfg=neuron_cfg,
                         dropout=0.0, loss_cls=loss_cls, label_smooth_eps=label_smooth_eps,
                         topk=topk, average_clips=average_clips, init_cfg=init_cfg)
        if isinstance(feat_size, int):
            feat_size = (feat_size, feat_size)
        self.num_frames = int(num_frames)
        self.feat_size = tuple(int(s) for s in feat_size)
        groups = in_channels // 2 if conv_groups is None else conv_groups
        if groups < 1 or in_channels % groups:
            raise ValueError(f'conv_groups={groups} must divide in_channels={in_channels}')
        self.temporal_conv = nn.Conv3d(in_channels, in_channels,
                                       (self.num_frames, ) + self.feat_size, groups=groups)
        self.temporal_bn = nn.BatchNorm3d(in_channels)

    @property
    def min_train_batch_size(self) -> int:
        """Clips per process a training batch needs: 2, because the Conv3d leaves one value per
        channel and clip and BatchNorm3d normalises those over the batch; 1 when the BatchNorm
        is synchronised (``sync_bn``, a ``process_group``) over >= 2 processes.  Read by
        :class:`~mmspike.datasets.DatasetCheckHook` before training starts."""
        bn = self.temporal_bn
        if hasattr(bn, 'process_group') and torch.distributed.is_available() \
                and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size(bn.process_group) > 1:
            return 1
        return 2

    def forward(self, x, **kwargs) -> torch.Tensor:
        x = last_feature_map(x, self)
        expected = (self.num_frames, self.in_channels) + self.feat_size
        if x.dim() != 5 or (x.shape[0], x.shape[2], x.shape[3], x.shape[4]) != expected:
            raise ValueError(
                f'{type(self).__name__} expects [T, N, C, H, W] features with T={expected[0]}, '
                f'C={expected[1]}, (H, W)={expected[2:]}, got shape {tuple(x.shape)}')
        if self.training and self.temporal_bn.training \
                and x.shape[1] < self.min_train_batch_size:
            raise ValueError(
                f'{type(self).__name__}: a training batch of {x.shape[1]} clip(s) per process, '
                f'but its BatchNorm3d (temporal_bn) normalises the one value per channel and '
                f'clip that the Conv3d leaves over the batch, so it needs at least '
                f'{self.min_train_batch_size}; set train_dataloader.batch_size >= 2 (and '
                f"drop_last=True if an epoch ends in a batch of one), or with >= 2 processes "
                f"sync_bn='torch', or put temporal_bn in eval mode")
        reset_neurons(self)
        x = self.neuron(x).permute(1, 2, 0, 3, 4)  # [N, C, T, H, W]
        x = self.temporal_bn(self.temporal_conv(x)).flatten(1)  # [N, C]
        return self.fc_cls(x)

    def forward_steps(self, x) -> torch.Tensor:
        """Not available: the Conv3d spans all T steps, so no logits belong to one step."""
        raise NotImplementedError(
            f'{type(self).__name__} has no per-step logits (its Conv3d spans all '
            f'{self.num_frames} steps; causal=False); use SpikingClsHead for streaming')
