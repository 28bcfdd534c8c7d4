"""Write videos of predicted vs ground-truth 3D skeletons during a test run."""
from __future__ import annotations

import os.path as osp
from typing import Optional

import cv2
import numpy as np

from ...registry import HOOKS
from ..picture_hook import BasePictureHook


def _field(container, name):
    """``container.name`` for an mmengine data element or a dict, else None."""
    if container is None:
        return None
    if isinstance(container, dict):
        return container.get(name)
    return getattr(container, name, None) if name in container else None


def _meta(sample) -> dict:
    return sample.metainfo if hasattr(sample, 'metainfo') else {}


def _numpy(value):
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


@HOOKS.register_module()
class PoseVideoHook(BasePictureHook):
    """During ``runner.test()``, write an MP4 of the predicted (orange) and ground-truth (green)
    3D skeletons next to the input frames for the first test clip of each of the first
    ``max_clips`` actions (sequences) met in the test set.

    Reads each output data sample's ``pred_instances.keypoints`` [T, J, 3], its
    ``gt_instances.lifting_target`` [T, J, 3] and its metainfo ``img_paths`` (the frames, read
    with OpenCV at their size on disk), ``frame_ids`` and ``action``, as
    :class:`~mmspike.estimators.pose.VideoPoseLifter` and ``PackClipPoseInputs`` produce them.
    Files are ``out_dir/<action>_<first frame id>.mp4`` (see
    :func:`mmspike.visualization.pose.write_pose_video`).  The skeleton comes from the test
    dataset's metainfo: ``parents`` (MMHPSD), else ``skeleton_links``; without either only the
    joints are drawn.

    Samples without ``lifting_target`` or predicted keypoints (e.g. a model that is not a 3D
    pose model) are skipped with one warning; so are clips whose predictions are not finite.
    Only the main process writes (under DDP: the first clips of its part of the test set).

    ``configs/_base_/runtime_mmpose.py`` makes it the ``default_hooks.visualization``,
    switched off (``enable=False``): mmspike's ``tools/test.py --show-dir DIR`` and MMPose's
    stock ``tools/test.py --show-dir DIR`` switch it on and set ``out_dir`` (MMPose's also
    ``interval``, ``show`` and ``wait_time``); with MMPose's ``--show`` it warns that it
    writes videos only.

    Args:
        out_dir (str, optional): output directory; a relative one is taken under the runner's
            ``work_dir``. Defaults to None (nothing written, with a warning, when enabled).
        max_clips (int): clips to write. Defaults to 4.
        fps (float): frame rate of the videos. Defaults to 8.
        **kwargs: ``enable``, ``draw``, ``interval``, ``show``, ``wait_time``: see
            :class:`~mmspike.hooks.BasePictureHook`.
    """

    sequence_key = 'action'

    def __init__(self, out_dir: Optional[str] = None, max_clips: int = 4, fps: float = 8.0,
                 **kwargs):
        super().__init__(out_dir, max_clips, **kwargs)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
            raise ValueError(f'PoseVideoHook: fps must be a positive number, got {fps!r}')
        self.fps = float(fps)

    def _reset(self):
        super()._reset()
        self._skeleton = None

    def before_test(self, runner) -> None:
        super().before_test(runner)
        if self.active and self.show:
            self._warn(runner, 'show', 'show=True: the skeleton videos are written to files '
                       '(--show-dir), not shown in a window')

    # ----------------------------------------------------------------------------------------
    def _dataset_skeleton(self, runner, num_joints: int) -> Optional[dict]:
        """``dict(parents=...)`` or ``dict(edges=...)`` for ``num_joints`` joints, or
        ``dict(edges=[])`` (joints only) with a warning."""
        if self._skeleton is not None and self._skeleton[0] == num_joints:
            return self._skeleton[1]
        try:
            meta = runner.test_dataloader.dataset.metainfo or {}
        except Exception:  # no test dataloader or a dataset without metainfo
            meta = {}
        skeleton = None
        parents, links = meta.get('parents'), meta.get('skeleton_links')
        if parents is not None and len(parents) == num_joints:
            skeleton = dict(parents=list(parents))
        elif links and all(0 <= int(a) < num_joints and 0 <= int(b) < num_joints
                           for a, b in links):
            skeleton = dict(edges=[(int(a), int(b)) for a, b in links])
        else:
            self._warn(runner, 'skeleton', f'the test dataset\'s metainfo has no "parents" or '
                       f'"skeleton_links" for {num_joints} joints; drawing joints only')
            skeleton = dict(edges=[])
        self._skeleton = (num_joints, skeleton)
        return skeleton

    def _frames(self, runner, paths):
        if not paths:
            self._warn(runner, 'frames', 'data samples have no "img_paths" metainfo; drawing '
                       'grey panels instead of the frames')
            return None
        frames = []
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f'PoseVideoHook: cannot read frame {path}')
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return frames

    def _name(self, meta: dict, index: int) -> str:
        """The file name of a clip: :meth:`_stem` ``.mp4``, numbered when already written."""
        stem = self._stem(meta, index)
        name, n = f'{stem}.mp4', 1
        while osp.join(self._directory, name) in self.written:
            n += 1
            name = f'{stem}-{n}.mp4'
        return name

    def _draw_sample(self, runner, sample) -> None:
        from ...visualization.pose import write_pose_video

        target = _field(_field(sample, 'gt_instances'), 'lifting_target')
        keypoints = _field(_field(sample, 'pred_instances'), 'keypoints')
        if target is None or keypoints is None:
            self._warn(runner, 'no-3d', 'test outputs without gt_instances.lifting_target '
                       'and pred_instances.keypoints (not a 3D pose model?): no videos '
                       'written for them')
            return
        pred, gt = _numpy(keypoints).astype(np.float64), _numpy(target).astype(np.float64)
        if pred.ndim != 3 or pred.shape != gt.shape:
            self._warn(runner, 'shape', f'predictions {pred.shape} and lifting_target '
                       f'{gt.shape} are not both [T, J, 3]: clip skipped')
            return
        if not np.isfinite(pred).all():
            self._warn(runner, 'finite', 'non-finite predicted keypoints: clip skipped')
            return
        meta = _meta(sample)
        if self._drawn_before(meta):
            return  # one clip per action: the videos show different sequences
        frames = self._frames(runner, meta.get('img_paths'))
        if frames is not None and len(frames) != len(pred):
            self._warn(runner, 'frame-count', f'{len(frames)} img_paths for {len(pred)} '
                       f'predicted frames: drawing grey panels')
            frames = None
        frame_ids = meta.get('frame_ids')
        labels = None
        if frame_ids is not None and len(frame_ids) == len(pred):
            labels = [f'frame {int(i)}' for i in frame_ids]
        path = osp.join(self._directory, self._name(meta, len(self.written)))
        write_pose_video(path, frames, pred, gt, fps=self.fps,
                         title=str(meta.get('action', '')) or None, frame_labels=labels,
                         **self._dataset_skeleton(runner, pred.shape[1]))
        self._record(runner, path, meta)

    def _summary(self) -> str:
        return f'{len(self.written)} video(s) in {self._directory}'
