from typing import Dict, Optional, Tuple, Union

import torch
from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from torch import nn

from ...layers.temporal import last_feature_map
from ...neurons import PLIF_ATAN, build_neuron, reset_neurons


@MODELS.register_module()
class SpikingClsHead(BaseHead):
    """Spiking classification head for MMAction2 recognizers (Meta-SpikeFormer's head).

    ``[T, N, C, H, W]`` -> average over H, W -> neuron -> dropout -> Linear -> mean over T.
    The neuron state is reset at every forward.  The logits of step ``t`` depend on steps
    ``<= t`` only (:attr:`causal`); :meth:`forward_steps` gives them without the mean and
    without the reset, for frame-by-frame streaming.  Loss, top-k accuracies, label smoothing, the
    soft labels of MixUp / CutMix and ``average_clips`` over test views are MMAction2's
    ``BaseHead``'s.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the backbone output.
        neuron_cfg (dict | None): neuron before the classifier; None for none. Defaults to
            :data:`~mmspike.neurons.multistep.PLIF_ATAN`.
        dropout (float): dropout before the classifier. Defaults to 0.
        loss_cls (dict): the classification loss. Defaults to
            ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        label_smooth_eps (float): label smoothing. Defaults to 0.
        topk (tuple[int]): accuracies logged during training. Defaults to (1, 5).
        average_clips (str | None): 'score', 'prob' or None, as in MMAction2.
            Defaults to 'prob'.
        init_cfg (dict, optional): defaults to a normal init of the classifier (std 0.01).

    Input: the backbone's tuple of ``[T, N, C, H, W]`` maps (the last one is used) or one map.
    """

    #: the logits of step ``t`` depend on the inputs of steps ``<= t`` only
    causal = True

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 neuron_cfg: Optional[dict] = PLIF_ATAN,
                 dropout: float = 0.0,
                 loss_cls: Dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 label_smooth_eps: float = 0.0,
                 topk: Union[int, Tuple[int, ...]] = (1, 5),
                 average_clips: Optional[str] = 'prob',
                 init_cfg: Optional[dict] = dict(type='Normal', layer='Linear', std=0.01)):
        if average_clips not in ('score', 'prob', None):
            raise ValueError(f"average_clips must be 'score', 'prob' or None, got "
                             f'{average_clips!r}')
        super().__init__(num_classes, in_channels, loss_cls=loss_cls,
                         label_smooth_eps=label_smooth_eps, topk=topk,
                         average_clips=average_clips, init_cfg=init_cfg)
        self.neuron = build_neuron(neuron_cfg) if neuron_cfg is not None else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, x, **kwargs) -> torch.Tensor:
        """The clip's logits ``[N, num_classes]``: the mean over T of :meth:`forward_steps`,
        with the neuron reset first (every clip starts afresh)."""
        reset_neurons(self)
        return self.forward_steps(x).mean(dim=0)  # [N, num_classes]

    def forward_steps(self, x) -> torch.Tensor:
        """Per-step logits ``[T, N, num_classes]`` of ``[T, N, C, H, W]`` features (or the
        backbone's tuple of them, the last one used).

        The neuron is *not* reset, so consecutive calls continue one video: the logits of the
        steps of two calls equal those of one call on their concatenation (frame-by-frame
        streaming, :class:`~mmspike.estimators.action.StreamingRecognizer`).  :meth:`forward`
        resets the neuron and averages these over T.

        Args:
            x (Tensor | tuple[Tensor]): ``[T, N, in_channels, H, W]`` maps.

        Returns:
            Tensor: ``[T, N, num_classes]`` logits, one row per time step.
        """
        x = last_feature_map(x, self)
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects [T, N, {self.in_channels}, H, W], '
                             f'got shape {tuple(x.shape)}')
        x = x.mean(dim=(3, 4))             # [T, N, C]
        x = self.dropout(self.neuron(x))
        return self.fc_cls(x)              # [T, N, num_classes]
