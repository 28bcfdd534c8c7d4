import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from ..models.layers import build_neuron
from ..models.neurons import reset_neurons
from ..registry import MODELS


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, topk=(1, 5)):
    """Fraction of rows whose label is among the k highest scores, for each k."""
    maxk = min(max(topk), scores.shape[1])
    ranked = scores.topk(maxk, dim=1).indices
    hits = ranked == labels.view(-1, 1)
    return [hits[:, :min(k, maxk)].any(dim=1).float().mean() for k in topk]


@MODELS.register_module()
class SpikingClsHead(BaseModule):
    """Spiking classification head for MMAction2 recognizers.

    ``[T, N, C, H, W]`` -> average over H, W -> neuron -> dropout -> Linear -> mean over T.
    The neuron state is reset at every forward.  Hard labels and the soft labels of MMAction2's
    MixUp / CutMix are both accepted.  Implements MMAction2's head interface (``loss``/``predict`` with ``ActionDataSample``s,
    ``average_clips`` over test views) without importing ``mmaction.models``.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the backbone output.
        neuron_cfg (dict | None): neuron before the classifier; None for none.
        dropout (float): dropout before the classifier. Defaults to 0.
        label_smooth_eps (float): label smoothing of the cross-entropy. Defaults to 0.
        topk (tuple[int]): accuracies logged during training. Defaults to (1, 5).
        average_clips (str | None): 'score', 'prob' or None, as in MMAction2.
        init_cfg (dict, optional): defaults to a normal init of the classifier (std 0.01).
    """

    def __init__(self, num_classes, in_channels,
                 neuron_cfg=dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0)),
                 dropout=0.0, label_smooth_eps=0.0, topk=(1, 5), average_clips='prob',
                 init_cfg=dict(type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        if average_clips not in ('score', 'prob', None):
            raise ValueError(f"average_clips must be 'score', 'prob' or None, got {average_clips!r}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.neuron = build_neuron(neuron_cfg) if neuron_cfg is not None else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self.label_smooth_eps = label_smooth_eps
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        self.average_clips = average_clips

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects [T, N, {self.in_channels}, H, W], '
                             f'got shape {tuple(x.shape)}')
        reset_neurons(self)
        x = x.mean(dim=(3, 4))             # [T, N, C]
        x = self.dropout(self.neuron(x))
        return self.fc_cls(x).mean(dim=0)  # [N, num_classes]

    def loss(self, feats, data_samples, **kwargs) -> dict:
        scores = self(feats, **kwargs)
        labels = torch.stack([ds.gt_label for ds in data_samples]).to(scores.device)
        if labels.is_floating_point() and labels.shape[-1] == self.num_classes:
            labels = labels.reshape(-1, self.num_classes)  # soft labels (MixUp / CutMix)
            hard = labels.argmax(dim=1)
        else:
            labels = hard = labels.reshape(-1).long()
        losses = dict(loss_cls=F.cross_entropy(scores, labels,
                                               label_smoothing=self.label_smooth_eps))
        for k, acc in zip(self.topk, topk_accuracy(scores.detach(), hard, self.topk)):
            losses[f'top{k}_acc'] = acc
        return losses

    def predict(self, feats, data_samples, **kwargs):
        scores = self(feats, **kwargs)
        num_views = scores.shape[0] // len(data_samples)
        scores = self.average_clip(scores, num_views)
        labels = scores.argmax(dim=-1, keepdim=True)
        for data_sample, score, label in zip(data_samples, scores, labels):
            data_sample.set_pred_score(score)
            data_sample.set_pred_label(label)
        return data_samples

    def average_clip(self, scores: torch.Tensor, num_views: int = 1) -> torch.Tensor:
        scores = scores.view(scores.shape[0] // num_views, num_views, -1)
        if self.average_clips is None:
            return scores
        if self.average_clips == 'prob':
            return F.softmax(scores, dim=2).mean(dim=1)
        return scores.mean(dim=1)
