"""MMHPSD as clips of RGB/grayscale frames with 3D pose targets, for MMPose.

On-disk layout (the real MMHPSD's, which
:func:`mmspike.datasets.synthetic.pose_clips.write_dataset` also writes)::

    data_root/mmhpsd_grayscale_img/<action>/imgs/fullpic<idx:04d>.jpg
    data_root/mmhpsd_events/<action>/poses/pose_<idx:04d>.npz     (joints3d [24, 3], metres)

Actions are named ``subjectXX_groupY_timeZ``; subjects 1, 2 and 7 are the test split, all
others the training split.  Directories whose names do not follow that pattern are ignored.
"""
from __future__ import annotations

import os
import os.path as osp
import re
import warnings
from typing import List, Optional, Sequence

import numpy as np
from mmpose.registry import DATASETS

# the layout is defined once, by the generator that writes it
from ..clip_sampling import clip_span, positive_int
from ..synthetic import MAKE_DEMO_DATASET_HINT
from ..synthetic.pose_clips import (FRAME_DIR, NUM_JOINTS, POSE_DIR, SMPL_FLIP_INDEX,
                                    SMPL_JOINT_NAMES, SMPL_PARENTS, TEST_SUBJECTS, frame_path,
                                    parse_action_name, pose_path)
from .base import BasePoseClipDataset, check_finite, mean_relative_pose, skeleton_metainfo

_FRAME_RE = re.compile(r'^fullpic(\d+)\.jpg$')
_POSE_RE = re.compile(r'^pose_(\d+)\.npz$')


def _frame_file(root, action, idx):
    return str(frame_path(root, action, idx))


def _pose_file(root, action, idx):
    return str(pose_path(root, action, idx))


def _indices(directory, pattern):
    """{index: file name} of the files in ``directory`` matching ``pattern`` ({} if absent)."""
    if not osp.isdir(directory):
        return {}
    found = {}
    for name in os.listdir(directory):
        match = pattern.match(name)
        if match:
            found[int(match[1])] = name
    return found


def _load_pose(path):
    """joints3d [24, 3] float32 and joints2d [24, 2] float32 (pixels; None when absent)."""
    try:
        with np.load(path, allow_pickle=False) as pose:
            keys = sorted(pose.files)
            joints = np.asarray(pose['joints3d']) if 'joints3d' in keys else None
            joints2d = np.asarray(pose['joints2d']) if 'joints2d' in keys else None
    except Exception as error:  # not an npz: numpy and zipfile raise many types
        raise ValueError(f'cannot read pose file {path}: {error}') from error
    if joints is None:
        raise ValueError(f'pose file {path} has no "joints3d" array (keys: {keys})')
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f'pose file {path}: joints3d must have shape ({NUM_JOINTS}, 3), '
                         f'got {joints.shape}')
    if joints2d is not None:
        if joints2d.ndim != 2 or joints2d.shape[0] != NUM_JOINTS or joints2d.shape[1] < 2:
            raise ValueError(f'pose file {path}: joints2d must have shape ({NUM_JOINTS}, 2 or '
                             f'3), got {joints2d.shape}')
        joints2d = joints2d[:, :2].astype(np.float32)
        check_finite(joints2d, 'joints2d', path)
    joints = joints.astype(np.float32)
    check_finite(joints, 'joints3d', path)  # in float32: a value past its range is Inf
    return joints, joints2d


@DATASETS.register_module()
class MMHPSDClipDataset(BasePoseClipDataset):
    """MMHPSD video clips with per-frame 3D joints (SMPL's 24 joints, camera frame, metres).

    Every action (sequence) is cut into clips of ``clip_len`` frames, taken every ``gap``-th
    frame; clip starts are ``stride`` frames apart.  Frames are counted as positions in the
    sorted list of the action's frame indices (found from its pose files), so a clip holds the
    frames at positions ``s, s + gap, ..., s + (clip_len - 1) * gap`` and needs
    ``(clip_len - 1) * gap + 1`` frames.  The default stride, ``clip_len * gap``, makes
    consecutive clips continue the same ``gap`` spacing without overlap.

    Args:
        data_root (str): the dataset root (holding ``mmhpsd_grayscale_img`` and
            ``mmhpsd_events``).
        split (str): ``'train'`` (every subject but 1, 2, 7) or ``'test'`` (subjects 1, 2, 7).
            Ignored when ``subjects`` is given.
        subjects (Sequence[int], optional): load exactly these subjects instead of a split.
        clip_len (int): frames per clip (T). Defaults to 8.
        gap (int): spacing of the clip's frames. Defaults to 2 (the authors' test setting).
        stride (int, optional): distance between clip starts. Defaults to ``clip_len * gap``.
        root_joints (Sequence[int]): joints whose mean is the root (pelvis); targets are
            relative to it. Defaults to ``(1, 2)``, the hips, as MMHPSD's PEL-MPJPE.
        compute_mean_pose (bool): put ``mean_pose`` in the metainfo (see below).
            Defaults to True.
        metainfo, pipeline, test_mode, serialize_data, lazy_init, max_refetch, indices,
        filter_cfg: as :class:`mmengine.dataset.BaseDataset` (keyword arguments).

    Metainfo: MMPose's dataset info of SMPL's 24 joints (``dataset_name`` 'mmhpsd',
    ``keypoint_info``, ``skeleton_info`` (23 links, each joint to its parent) and what
    ``parse_pose_metainfo`` derives from them: ``num_keypoints``, ``keypoint_id2name``,
    ``skeleton_links`` (parent, child), ``flip_indices``, ``keypoint_colors``, ...; see
    :func:`~mmspike.datasets.pose.base.skeleton_metainfo`), ``joint_names``, ``parents``,
    ``root_joints``, ``clip_len``, ``gap``, ``stride``, ``subjects`` (those
    loaded) and ``mean_pose``: the mean root-relative pose [24, 3] (float32, metres) over all
    frames of all *training* subjects' actions found under ``data_root``, whatever split or
    subjects this dataset loads (so a test-split dataset can report a mean-pose baseline without
    looking at test poses).  It is ``None``, with a warning, when no training action is present,
    and it is set when the data list is loaded (after ``full_init`` with ``lazy_init=True``).

    Each data_info holds ``img_paths`` (T str), ``frame_ids`` (T int, the file indices),
    ``action``, ``subject`` (int), ``clip_len``, ``gap``, ``joints3d`` [T, 24, 3] absolute,
    ``lifting_target`` [T, 24, 3] root-relative, ``lifting_target_root`` [T, 1, 3] and
    ``lifting_target_visible`` [T, 24] (ones), all float32, and, when every pose file of the
    action has ``joints2d``, ``bbox``: ``[x1, y1, x2, y2]`` around the clip's 2D joints over
    all its frames (for :class:`~mmspike.datasets.pose.CropClipToBox`).  ``joints2d`` are taken
    as pixels of the frame files, which is what the generator writes; on the real MMHPSD, check
    it (``tools/test.py --show-dir`` shows the crops' effect).

    Errors: ``FileNotFoundError`` for a missing ``data_root``, a split with no actions, or a
    frame whose image or pose file is missing; ``ValueError`` for bad arguments, a pose file
    without a [24, 3] ``joints3d`` (or with a ``joints2d`` that is not [24, 2 or 3]), or when no
    action is long enough for one clip (actions that are too short are skipped with a warning
    if others are long enough).
    """

    METAINFO = skeleton_metainfo('mmhpsd', SMPL_JOINT_NAMES, SMPL_PARENTS, SMPL_FLIP_INDEX)

    ROOT_JOINTS = (1, 2)
    SEQUENCE_KIND = 'action'

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = 'train',
                 subjects: Optional[Sequence[int]] = None,
                 clip_len: int = 8,
                 gap: int = 2,
                 stride: Optional[int] = None,
                 root_joints: Sequence[int] = ROOT_JOINTS,
                 compute_mean_pose: bool = True,
                 **kwargs):
        if subjects is not None:
            if isinstance(subjects, (int, str)) or not len(subjects):
                raise ValueError(f'subjects must be a non-empty list of integers, '
                                 f'got {subjects!r}')
            self.subjects = sorted({positive_int('subject', s) for s in subjects})
        elif split in ('train', 'test'):
            self.subjects = None  # resolved by scanning
        else:
            raise ValueError(f"split must be 'train' or 'test' (or give subjects), got {split!r}")
        self.split = split if subjects is None else None
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(f'MMHPSD data_root {data_root!r} is not a directory\n'
                                    f'{MAKE_DEMO_DATASET_HINT}')
        super().__init__(clip_len=clip_len, gap=gap, stride=stride, root_joints=root_joints,
                         compute_mean_pose=compute_mean_pose, data_root=data_root, **kwargs)

    # ------------------------------------------------------------------------------------
    def _actions(self):
        """{action: subject} of every well-named action directory under data_root."""
        names = set()
        for top, file_of in ((FRAME_DIR, frame_path), (POSE_DIR, pose_path)):
            base = osp.join(self.data_root, top)
            if osp.isdir(base):
                names.update(n for n in os.listdir(base)
                             if file_of(self.data_root, n, 0).parent.is_dir())
        actions = {}
        for name in sorted(names):
            try:
                actions[name] = parse_action_name(name)[0]
            except ValueError:
                continue
        return actions

    def _selected(self, subject):
        if self.subjects is not None:
            return subject in self.subjects
        return (subject in TEST_SUBJECTS) == (self.split == 'test')

    def _action_poses(self, action, check_images=True):
        """Sorted frame indices of ``action``, their joints3d [N, 24, 3] float32 and joints2d
        [N, 24, 2] (None unless every pose file has them)."""
        root = self.data_root
        poses = _indices(pose_path(root, action, 0).parent, _POSE_RE)
        if check_images:
            images = _indices(frame_path(root, action, 0).parent, _FRAME_RE)
            for idx in sorted(set(images) - set(poses)):
                raise FileNotFoundError(f'frame {_frame_file(root, action, idx)} has no pose '
                                        f'file: expected {_pose_file(root, action, idx)}')
            for idx in sorted(set(poses) - set(images)):
                raise FileNotFoundError(f'pose file {_pose_file(root, action, idx)} has no '
                                        f'frame: expected {_frame_file(root, action, idx)}')
        ids = sorted(poses)
        loaded = [_load_pose(_pose_file(root, action, i)) for i in ids]
        joints = np.stack([j3 for j3, _ in loaded]) if ids \
            else np.zeros((0, NUM_JOINTS, 3), np.float32)
        joints2d = np.stack([j2 for _, j2 in loaded]) \
            if ids and all(j2 is not None for _, j2 in loaded) else None
        return ids, joints, joints2d

    def load_data_list(self) -> List[dict]:
        actions = self._actions()
        selected = {a: s for a, s in actions.items() if self._selected(s)}
        what = (f'subjects {self.subjects}' if self.subjects is not None
                else f'the {self.split} split')
        if not selected:
            raise FileNotFoundError(
                f'no MMHPSD actions for {what} under {self.data_root!r} (looked for '
                f'{FRAME_DIR}/subjectXX_groupY_timeZ/imgs and {POSE_DIR}/.../poses; found '
                f'actions: {sorted(actions) or "none"})\n{MAKE_DEMO_DATASET_HINT}')

        span = clip_span(self.clip_len, self.gap)
        data_list, loaded, too_short = [], {}, []
        for action, subject in selected.items():
            ids, joints, joints2d = self._action_poses(action)
            loaded[action] = joints
            if len(ids) < span:
                too_short.append(f'{action} ({len(ids)} frames)')
                continue
            data_list.extend(self._sequence_clips(
                joints,
                per_frame=dict(img_paths=[_frame_file(self.data_root, action, i) for i in ids],
                               frame_ids=ids),
                sequence=dict(action=action, subject=subject),
                boxes=joints2d))
        return self._finish_data_list(data_list, too_short, what, sorted(set(selected.values())),
                                      mean_pose=lambda: self._mean_pose(actions, loaded))

    def _mean_pose(self, actions, loaded):
        """Mean root-relative pose [24, 3] over every frame of the training subjects' actions."""
        train = [a for a, s in actions.items() if s not in TEST_SUBJECTS]
        if not train:
            warnings.warn('MMHPSDClipDataset: no training-subject actions under '
                          f'{self.data_root!r}; metainfo mean_pose is None')
            return None
        poses = (loaded[action] if action in loaded
                 else self._action_poses(action, check_images=False)[1] for action in train)
        mean_pose = mean_relative_pose(poses, self.root_joints)
        if mean_pose is None:
            warnings.warn('MMHPSDClipDataset: training-subject actions hold no pose files; '
                          'metainfo mean_pose is None')
        return mean_pose
