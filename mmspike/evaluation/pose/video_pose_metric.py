"""VideoPose3DMetric: 3D joint errors of clip-level (video) pose estimates, MMPose metric."""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement
from mmpose.registry import METRICS

from ..functional.pose import accel_error, as_float64, mpjpe, pa_mpjpe, pel_mpjpe

_ERROR_KEYS = ('mpjpe', 'pa_mpjpe', 'pel_mpjpe')


def _lookup(sample, path):
    """``sample[path[0]][path[1]]...`` for dicts and mmengine data elements alike."""
    node = sample
    for depth, key in enumerate(path):
        if isinstance(node, Mapping):
            present = key in node
        elif isinstance(node, BaseDataElement):
            present = key in node
        else:
            present = False
        if not present:
            where = 'data_sample' + ''.join(f"['{k}']" for k in path[:depth + 1])
            have = (sorted(node.keys()) if isinstance(node, (Mapping, BaseDataElement))
                    else type(node).__name__)
            raise KeyError(f'VideoPose3DMetric needs {where} (path '
                           f"{'/'.join(path)}); found keys {have}")
        node = node[key] if isinstance(node, Mapping) else getattr(node, key)
    return node


def _as_clip(x, name) -> np.ndarray:
    """``[T, J, 3]`` from ``[T, J, 3]`` or ``[1, T, J, 3]``."""
    x = as_float64(x)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f'{name} must have shape [T, J, 3] (or [1, T, J, 3]); got shape '
                         f'{tuple(x.shape)}')
    return x


@METRICS.register_module()
class VideoPose3DMetric(BaseMetric):
    """3D pose errors of video pose estimation, one data sample per clip.

    Each data sample (a dict, as mmengine's ``Evaluator`` passes after ``to_dict()``, or a
    ``PoseDataSample``) holds the prediction ``['pred_instances']['keypoints']`` ``[T, J, 3]``
    (or ``[1, T, J, 3]``) and the ground truth ``['gt_instances']['lifting_target']``
    ``[T, J, 3]``: root-relative 3D joints (NumPy arrays or tensors).  Reported, multiplied by
    ``unit_scale`` (metres -> mm by default; prefix ``pose``):

    * ``pose/mpjpe``: mean per-joint position error;
    * ``pose/pa_mpjpe``: after a per-frame Procrustes (similarity) alignment;
    * ``pose/pel_mpjpe``: after subtracting the pelvis, the mean of ``root_joints``;
    * ``pose/accel``: acceleration error (per frame^2), over clips with ``T >= 3``; omitted, with
      a warning, when no clip has 3 frames;
    * ``pose/baseline_mpjpe``, ``pose/baseline_pa_mpjpe``, ``pose/baseline_pel_mpjpe``: the same
      errors of a constant prediction (``baseline_pose`` for every frame), when a baseline is
      given or the dataset's meta has ``mean_pose``.

    All are means over every frame and joint of every clip: each frame weighs the same whatever
    the length of its clip (not a mean of per-clip means).  Under DDP the per-clip sums are
    gathered from all ranks like any mmengine metric.

    Args:
        unit_scale (float): factor applied to errors in the inputs' unit; default 1000 (m -> mm).
        root_joints (Sequence[int]): joints whose mean is the pelvis for ``pel_mpjpe``; (1, 2)
            (SMPL hips, default) or (0,) for Human3.6M.
        baseline_pose (array-like | str, optional): ``[J, 3]`` pose, or a path to a ``.npy``
            file holding it; if None, ``dataset_meta['mean_pose']`` when the dataset has one.
        collect_device (str): 'cpu' or 'gpu'.
        prefix (str, optional): metric name prefix; default 'pose'.
    """

    default_prefix = 'pose'

    def __init__(self, unit_scale: float = 1000.0, root_joints: Sequence[int] = (1, 2),
                 baseline_pose=None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.unit_scale = float(unit_scale)
        self.root_joints = tuple(int(j) for j in root_joints)
        if not self.root_joints or min(self.root_joints) < 0:
            raise ValueError(f'root_joints must be non-negative joint indices; got {root_joints}')
        if isinstance(baseline_pose, (str, os.PathLike)):
            baseline_pose = np.load(baseline_pose)
        self.baseline_pose = (None if baseline_pose is None
                              else self._check_baseline(baseline_pose))
        self._warned_accel = False

    @staticmethod
    def _check_baseline(pose) -> np.ndarray:
        pose = as_float64(pose)
        while pose.ndim > 2 and pose.shape[0] == 1:
            pose = pose[0]
        if pose.ndim != 2 or pose.shape[-1] != 3:
            raise ValueError(f'baseline pose must have shape [J, 3]; got shape '
                             f'{tuple(pose.shape)}')
        return pose

    def _baseline(self) -> Optional[np.ndarray]:
        if self.baseline_pose is not None:
            return self.baseline_pose
        meta = self.dataset_meta or {}
        mean_pose = meta.get('mean_pose')
        if mean_pose is None:
            return None
        if isinstance(mean_pose, (str, os.PathLike)):
            mean_pose = np.load(mean_pose)
        self.baseline_pose = self._check_baseline(mean_pose)
        return self.baseline_pose

    def _errors(self, pred, target) -> dict:
        """Per-clip sums (not means) of the errors, in the inputs' unit."""
        num_frames, num_joints = target.shape[:2]
        count = num_frames * num_joints
        return {
            'mpjpe': mpjpe(pred, target) * count,
            'pa_mpjpe': pa_mpjpe(pred, target) * count,
            'pel_mpjpe': pel_mpjpe(pred, target, root=self.root_joints) * count,
        }

    def process(self, data_batch, data_samples: Sequence) -> None:
        baseline = self._baseline()
        for sample in data_samples:
            pred = _as_clip(_lookup(sample, ('pred_instances', 'keypoints')),
                            "prediction data_sample['pred_instances']['keypoints']")
            target = _as_clip(_lookup(sample, ('gt_instances', 'lifting_target')),
                              "target data_sample['gt_instances']['lifting_target']")
            if pred.shape[1] != target.shape[1]:
                raise ValueError(
                    f'prediction has {pred.shape[1]} joints but target has {target.shape[1]}: '
                    f'expected prediction shape {tuple(target.shape)} (the target\'s), got '
                    f'{tuple(pred.shape)}')
            if pred.shape[0] != target.shape[0]:
                raise ValueError(
                    f'prediction has {pred.shape[0]} frames but target has {target.shape[0]}: '
                    f'expected prediction shape {tuple(target.shape)} (the target\'s), got '
                    f'{tuple(pred.shape)}')
            num_frames, num_joints = target.shape[:2]
            result = dict(count=num_frames * num_joints, **self._errors(pred, target))
            if num_frames >= 3:
                result['accel_count'] = (num_frames - 2) * num_joints
                result['accel'] = accel_error(pred, target) * result['accel_count']
            else:
                result['accel_count'], result['accel'] = 0, 0.0
            if baseline is not None:
                if baseline.shape[0] != num_joints:
                    raise ValueError(
                        f'baseline pose has {baseline.shape[0]} joints but target has '
                        f'{num_joints}: expected baseline shape ({num_joints}, 3), got '
                        f'{tuple(baseline.shape)}')
                constant = np.broadcast_to(baseline, target.shape)
                for key, value in self._errors(constant, target).items():
                    result[f'baseline_{key}'] = value
            self.results.append(result)

    def compute_metrics(self, results: list) -> dict:
        count = sum(r['count'] for r in results)
        if not count:
            return {key: float('nan') for key in _ERROR_KEYS}
        metrics = {key: self.unit_scale * sum(r[key] for r in results) / count
                   for key in _ERROR_KEYS}
        accel_count = sum(r['accel_count'] for r in results)
        short = sum(1 for r in results if r['accel_count'] == 0)
        if accel_count:
            metrics['accel'] = self.unit_scale * sum(r['accel'] for r in results) / accel_count
        if short and not self._warned_accel:
            self._warned_accel = True
            what = ('accel is not reported' if not accel_count
                    else f'accel leaves out these {short} clips')
            warnings.warn(f'VideoPose3DMetric: {short} of {len(results)} clips have fewer than '
                          f'3 frames; {what} (the acceleration error needs T >= 3)')
        if all(f'baseline_{key}' in r for r in results for key in _ERROR_KEYS):
            for key in _ERROR_KEYS:
                metrics[f'baseline_{key}'] = (
                    self.unit_scale * sum(r[f'baseline_{key}'] for r in results) / count)
        return metrics
