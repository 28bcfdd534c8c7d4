"""Per-time-step 3D joint regression from a spiking video backbone (MMPose head)."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import MODELS
from torch import nn

from ...layers.temporal import last_feature_map, positive_pair

LOSS_TYPES = ('L1', 'MSE')


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(value):
        value = torch.from_numpy(np.asarray(value))
    return value.to(device=like.device, dtype=like.dtype)


@MODELS.register_module()
class SpikeTemporalRegressionHead(BaseHead):
    """Regress root-relative 3D joints for every time step of a clip.

    ``[T, N, C, H, W]`` (the last map of the backbone's or neck's tuple; with a sequence of
    ``in_channels``, the last ``len(in_channels)`` maps) -> per-step features of each map
    (average over H, W: ``[T, N, C]``; or, with ``feat_size``, the whole map flattened:
    ``[T, N, C * H * W]``, which keeps where things are in the frame), concatenated ->
    ``Linear`` shared over the time steps -> ``[N, T, J, 3]``, root-relative joints in the
    targets' unit (metres for MMHPSD).  The head is real-valued (no neuron) and has no state.

    Causality: the output of step ``t`` depends only on the features of step ``t``, so the
    whole model is causal exactly when the backbone is (a backbone whose attention mixes time
    steps, e.g. SpikeVideoFormer's ``'joint'`` attention, is not).

    Args:
        in_channels (int | Sequence[int]): channels ``C`` of the input map, or of each of the
            last ``len(in_channels)`` maps (e.g. ``(128, 192)`` for a backbone's
            ``out_indices=(2, 3)``).
        num_joints (int): joints ``J``. Defaults to 24 (SMPL, MMHPSD).
        feat_size (int | tuple[int, int] | Sequence, optional): ``(H, W)`` of the input map to
            flatten it instead of averaging it (the input must then have exactly this size);
            with several maps, one entry (None, int or pair) per map. Defaults to None
            (average).
        loss (dict): ``dict(type='L1' | 'MSE', loss_weight=1.0)``: the per-coordinate joint
            error averaged over visible joints (``lifting_target_visible`` > 0).
            Defaults to ``dict(type='L1')``.
        velocity_weight (float): weight of the velocity loss, the L1 error of the
            frame-to-frame differences (prediction vs target) averaged over joint pairs visible
            in both frames; 0 to drop it (it is still reported, as 0). Defaults to 1.0.
        unit_scale (float): factor from the targets' unit to the logged ``mpjpe`` (m -> mm).
            Defaults to 1000.
        init_cfg (dict, optional): defaults to a normal init of the Linear (std 0.001, bias 0).

    Losses (``loss``): ``loss_pose``, ``loss_velocity`` and ``mpjpe`` (no gradient, mean
    per-joint position error over visible joints, times ``unit_scale``).  Targets come from
    each data sample's ``gt_instances.lifting_target`` ``[T, J, 3]`` and, if present,
    ``gt_instances.lifting_target_visible`` ``[T, J]`` (or ``[T, J, 1]``).

    Predictions (``predict``): one :class:`InstanceData` per sample with ``keypoints``
    ``[T, J, 3]`` and ``keypoint_scores`` ``[T, J]`` (ones), NumPy float32: the clip's frames are
    the instances, the layout of the data samples' ``gt_instances``.
    """

    #: the output of step ``t`` depends on the input of step ``t`` only
    causal = True

    def __init__(self,
                 in_channels: int,
                 num_joints: int = 24,
                 feat_size: Union[int, Tuple[int, int], None] = None,
                 loss: dict = dict(type='L1'),
                 velocity_weight: float = 1.0,
                 unit_scale: float = 1000.0,
                 init_cfg: Optional[dict] = dict(type='Normal', layer='Linear', std=0.001,
                                                 bias=0.0)):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        several = isinstance(in_channels, (tuple, list))
        channels = tuple(in_channels) if several else (in_channels, )
        if not channels or not all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 1
                for c in channels):
            raise ValueError(f'{name}: in_channels must be a positive integer or a non-empty '
                             f'sequence of them, got {in_channels!r}')
        if isinstance(num_joints, bool) or not isinstance(num_joints, (int, np.integer)) or \
                num_joints < 1:
            raise ValueError(f'{name}: num_joints must be a positive integer, got '
                             f'{num_joints!r}')
        if not several:
            sizes = (feat_size, )
        elif feat_size is None:
            sizes = (None, ) * len(channels)
        elif isinstance(feat_size, (tuple, list)) and len(feat_size) == len(channels):
            sizes = tuple(feat_size)
        else:
            raise ValueError(f'{name}: with {len(channels)} maps (in_channels={channels}), '
                             f'feat_size must be None or one entry (None, an int or (H, W)) '
                             f'per map, got {feat_size!r}')
        if not isinstance(loss, dict) or loss.get('type') not in LOSS_TYPES:
            raise ValueError(f'{name}: loss must be dict(type=...) with type in '
                             f'{LOSS_TYPES}, got {loss!r}')
        unknown = set(loss) - {'type', 'loss_weight'}
        if unknown:
            raise ValueError(f'{name}: unknown loss keys {sorted(unknown)}')
        if velocity_weight < 0:
            raise ValueError(f'velocity_weight must be >= 0, got {velocity_weight}')
        self.in_channels = tuple(int(c) for c in channels) if several else int(channels[0])
        self.num_joints = int(num_joints)
        # (channels, (H, W) or None) of each map read, oldest first
        self.maps = tuple((int(c), positive_pair(size, f'{name}: feat_size', '(H, W)'))
                          for c, size in zip(channels, sizes))
        self.feat_size = self.maps[0][1] if not several else tuple(sz for _, sz in self.maps)
        self.loss_type = loss['type']
        self.loss_weight = float(loss.get('loss_weight', 1.0))
        self.velocity_weight = float(velocity_weight)
        self.unit_scale = float(unit_scale)
        features = sum(c * (1 if size is None else size[0] * size[1]) for c, size in self.maps)
        self.fc = nn.Linear(features, self.num_joints * 3)

    # ------------------------------------------------------------------------------------
    def forward(self, feats: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """Tuple of ``[T, N, C, H, W]`` maps (or one map) -> ``[N, T, J, 3]``."""
        name = type(self).__name__
        several = len(self.maps) > 1
        if not several:
            maps = [last_feature_map(feats, self)]
        else:
            if not isinstance(feats, (tuple, list)) or len(feats) < len(self.maps):
                got = len(feats) if isinstance(feats, (tuple, list)) else 1
                raise ValueError(f'{name} takes the last {len(self.maps)} maps of the backbone '
                                 f'(in_channels={self.in_channels}), got {got}')
            maps = list(feats[-len(self.maps):])
        steps = batch = None
        per_step = []
        for i, (x, (c, size)) in enumerate(zip(maps, self.maps)):
            if not torch.is_tensor(x) or x.dim() != 5 or x.shape[2] != c:
                shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
                raise ValueError(f'{name} expects [T, N, C={c}, H, W] maps (the backbone\'s '
                                 f'layout, not a TemporalNeck output), got shape {shape}'
                                 + (f' for map {i}' if several else ''))
            if steps is None:
                steps, batch = x.shape[:2]
            elif x.shape[:2] != (steps, batch):
                raise ValueError(f'{name}: map {i} has (T, N) = {tuple(x.shape[:2])}, the '
                                 f'first map {(steps, batch)}')
            if size is None:
                per_step.append(x.mean(dim=(3, 4)))          # [T, N, C]
            else:
                if tuple(x.shape[3:]) != size:
                    raise ValueError(f'{name} was built for {size[0]} x {size[1]} maps '
                                     f'(feat_size), got {x.shape[3]} x {x.shape[4]} (input '
                                     f'shape {tuple(x.shape)})')
                per_step.append(x.flatten(2))                # [T, N, C*H*W]
        x = per_step[0] if len(per_step) == 1 else torch.cat(per_step, dim=2)
        x = self.fc(x)                                      # [T, N, J*3], step by step
        return x.view(steps, batch, self.num_joints, 3).transpose(0, 1)

    @torch.no_grad()
    def init_output_bias(self, mean_pose) -> None:
        """Set the output bias to ``mean_pose`` ``[J, 3]`` (in the targets' unit), so that a
        zero feature predicts the mean pose (see :class:`mmspike.hooks.pose.MeanPoseInitHook`)."""
        mean_pose = torch.as_tensor(np.asarray(mean_pose), dtype=self.fc.bias.dtype)
        if tuple(mean_pose.shape) != (self.num_joints, 3):
            raise ValueError(f'{type(self).__name__}: mean_pose must be [{self.num_joints}, 3], '
                             f'got {tuple(mean_pose.shape)}')
        self.fc.bias.copy_(mean_pose.reshape(-1).to(self.fc.bias.device))

    # ------------------------------------------------------------------------------------
    def _targets(self, batch_data_samples, pred: torch.Tensor):
        """``lifting_target`` [N, T, J, 3] and visibility [N, T, J] of the batch."""
        name = type(self).__name__
        if batch_data_samples is None or len(batch_data_samples) != pred.shape[0]:
            got = None if batch_data_samples is None else len(batch_data_samples)
            raise ValueError(f'{name}: got {got} data samples for a batch of {pred.shape[0]}')
        shape = tuple(pred.shape[1:])
        targets, weights = [], []
        for i, sample in enumerate(batch_data_samples):
            gt = sample.gt_instances
            if 'lifting_target' not in gt:
                raise KeyError(f'{name}: data sample {i} has no gt_instances.lifting_target '
                               f'(keys: {sorted(gt.keys())})')
            target = _as_tensor(gt.lifting_target, pred)
            if tuple(target.shape) != shape:
                raise ValueError(f'{name}: data sample {i} has lifting_target of shape '
                                 f'{tuple(target.shape)}, expected [T, J, 3] = {list(shape)} '
                                 f'(T from the input clip, J = num_joints)')
            if 'lifting_target_visible' in gt:
                visible = _as_tensor(gt.lifting_target_visible, pred)
                if visible.dim() == 3 and visible.shape[-1] == 1:
                    visible = visible[..., 0]
                if tuple(visible.shape) != shape[:2]:
                    raise ValueError(f'{name}: data sample {i} has lifting_target_visible of '
                                     f'shape {tuple(visible.shape)}, expected [T, J] = '
                                     f'{list(shape[:2])}')
            else:
                visible = pred.new_ones(shape[:2])
            targets.append(target)
            weights.append((visible > 0).to(pred.dtype))
        return torch.stack(targets), torch.stack(weights)

    @staticmethod
    def _weighted_mean(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Mean of ``error`` [..., J, 3] over coordinates of joints with ``weight`` [..., J]."""
        total = (error * weight.unsqueeze(-1)).sum()
        return total / (weight.sum() * error.shape[-1]).clamp(min=1)

    def compute_losses(self, pred: torch.Tensor, target: torch.Tensor,
                       weight: torch.Tensor) -> dict:
        """Losses of a prediction ``[N, T, J, 3]`` against ``target`` with ``weight`` [N, T, J]."""
        diff = pred - target
        error = diff.abs() if self.loss_type == 'L1' else diff.pow(2)
        loss_pose = self.loss_weight * self._weighted_mean(error, weight)
        if pred.shape[1] > 1:
            vel = (pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])
            loss_velocity = self._weighted_mean(vel.abs(), weight[:, 1:] * weight[:, :-1])
        else:
            loss_velocity = pred.sum() * 0
        loss_velocity = self.velocity_weight * loss_velocity
        with torch.no_grad():
            dist = diff.detach().norm(dim=-1)
            mpjpe = (dist * weight).sum() / weight.sum().clamp(min=1) * self.unit_scale
        return dict(loss_pose=loss_pose, loss_velocity=loss_velocity, mpjpe=mpjpe)

    def loss(self, feats, batch_data_samples, train_cfg: Optional[dict] = {}) -> dict:
        pred = self.forward(feats)
        target, weight = self._targets(batch_data_samples, pred)
        return self.compute_losses(pred, target, weight)

    def predict(self, feats, batch_data_samples=None, test_cfg: Optional[dict] = {}):
        pred = self.forward(feats).detach().float().cpu().numpy()
        preds = []
        for clip in pred:
            preds.append(InstanceData(keypoints=clip.astype(np.float32),
                                      keypoint_scores=np.ones(clip.shape[:2], np.float32)))
        return preds
