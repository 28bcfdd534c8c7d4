"""What the clip pose datasets share: :class:`BasePoseClipDataset` and its helpers.

A dataset cuts each sequence (an MMHPSD action, a Human3.6M video) of ``N`` frames, counted as
positions ``0 .. N - 1`` in frame order, into clips of ``clip_len`` frames taken every ``gap``-th
frame, with clip starts ``stride`` positions apart (``clip_positions`` of
:mod:`mmspike.datasets.clip_sampling`).  Sequences shorter than one clip are skipped with a
warning, or refused when no sequence is long enough (:func:`check_clip_lengths`).  Targets are
relative to the root, the mean of ``root_joints`` (:func:`root_of`), and the mean pose a baseline
for the metric is the mean root-relative pose of every training frame
(:func:`mean_relative_pose`).
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset

from ..clip_sampling import clip_positions, clip_spacing, clip_span


def check_root_joints(root_joints: Sequence[int], num_joints: int) -> Tuple[int, ...]:
    """``root_joints`` as a tuple of ints; ValueError unless a non-empty list of joint indices in
    ``[0, num_joints)``."""
    root_joints = tuple(root_joints)
    if not root_joints or any(isinstance(j, bool) or not isinstance(j, (int, np.integer))
                              or not 0 <= j < num_joints for j in root_joints):
        raise ValueError(f'root_joints must be a non-empty list of joint indices in '
                         f'[0, {num_joints}), got {root_joints!r}')
    return tuple(int(j) for j in root_joints)


def skeleton_links(parents: Sequence[int]) -> List[Tuple[int, int]]:
    """(parent, child) of every joint that has a parent (parent index -1: none)."""
    return [(parent, child) for child, parent in enumerate(parents) if parent >= 0]


#: MMPose's body colours (RGB): left joints and limbs green, right ones orange, the centre blue
SIDE_COLOURS = dict(left=(0, 255, 0), right=(255, 128, 0), centre=(51, 153, 255))


def joint_side(name: str) -> str:
    """``'left'`` for a name starting ``left_`` or ``L_`` (any case), ``'right'`` for
    ``right_`` / ``R_``, else ``'centre'``."""
    lowered = name.lower()
    if lowered.startswith(('left_', 'l_')):
        return 'left'
    if lowered.startswith(('right_', 'r_')):
        return 'right'
    return 'centre'


def lower_body_joints(joint_names: Sequence[str], parents: Sequence[int]) -> List[int]:
    """The root joints (parent -1) and every joint below a root's left or right child (the
    hips: Human3.6M's joints 0-6, SMPL's pelvis, hips, knees, ankles and feet), sorted."""
    children = {}
    for child, parent in enumerate(parents):
        children.setdefault(parent, []).append(child)
    roots = children.get(-1, [])
    lower, stack = set(roots), [c for r in roots for c in children.get(r, [])
                                if joint_side(joint_names[c]) != 'centre']
    while stack:
        joint = stack.pop()
        lower.add(joint)
        stack.extend(children.get(joint, []))
    return sorted(lower)


def skeleton_metainfo(dataset_name: str, joint_names: Sequence[str], parents: Sequence[int],
                      flip_index: Sequence[int], **extra) -> dict:
    """A pose dataset's ``METAINFO`` in MMPose's format, with mmspike's skeleton keys.

    It holds MMPose's dataset-info keys, which ``mmpose.datasets.datasets.utils.
    parse_pose_metainfo`` reads (``mmpose.apis.init_model`` without a checkpoint and
    ``get_flops`` call it on the dataset class's ``METAINFO``): ``dataset_name``,
    ``keypoint_info`` (per joint: ``name``, ``id``, ``color``, ``type`` 'upper' / 'lower'
    (:func:`lower_body_joints`), ``swap``: the mirror joint's name or ''), ``skeleton_info``
    (per link: ``link`` (parent name, child name), ``id``, ``color``), ``joint_weights`` (ones)
    and ``sigmas`` (empty, as MMPose's 3D datasets: no OKS); then what that function derives,
    as MMPose's datasets hold it: ``num_keypoints``, ``keypoint_id2name``,
    ``keypoint_name2id``, ``upper_body_ids``, ``lower_body_ids``, ``flip_indices``,
    ``flip_pairs``, ``keypoint_colors`` and ``skeleton_link_colors`` (uint8 RGB,
    :data:`SIDE_COLOURS`; a link takes its child's side), ``num_skeleton_links``,
    ``skeleton_links`` ((parent, child) ids, :func:`skeleton_links`),
    ``dataset_keypoint_weights``; and mmspike's ``joint_names`` and ``parents`` (-1: none), and
    the ``extra`` keys.

    Args:
        dataset_name (str): the dataset's name.
        joint_names (Sequence[str]): the joints' names, in joint order.
        parents (Sequence[int]): each joint's parent index (-1: a root).
        flip_index (Sequence[int]): each joint's mirror image (itself on the centre line).
        **extra: further metainfo keys.
    """
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    names = list(joint_names)
    if not (len(parents) == len(flip_index) == len(names)):
        raise ValueError(f'{dataset_name}: {len(names)} joint names need as many parents and '
                         f'flip indices, got {len(parents)} and {len(flip_index)}')
    lower = set(lower_body_joints(names, parents))
    keypoint_info = {
        i: dict(name=name, id=i, color=list(SIDE_COLOURS[joint_side(name)]),
                type='lower' if i in lower else 'upper',
                swap='' if flip_index[i] == i else names[flip_index[i]])
        for i, name in enumerate(names)}
    skeleton_info = {
        k: dict(link=(names[parent], names[child]), id=k,
                color=list(SIDE_COLOURS[joint_side(names[child])]))
        for k, (parent, child) in enumerate(skeleton_links(parents))}
    info = dict(dataset_name=dataset_name, keypoint_info=keypoint_info,
                skeleton_info=skeleton_info, joint_weights=[1.0] * len(names), sigmas=[])
    return dict(info, **parse_pose_metainfo(info), joint_names=names, parents=list(parents),
                **extra)


def check_finite(values: np.ndarray, what: str, path: str) -> None:
    """Raise ``ValueError`` naming ``path``, the array (``what``), how many values are NaN or
    Inf and the index of the first, when ``values`` holds any: a NaN target makes every loss
    NaN (and a NaN box a NaN crop), which stock training only shows as ``loss: nan``."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f'{path}: {what} holds {int(bad.sum())} NaN/Inf value(s) of '
                         f'{values.size} (the first at index {first}: {values[first]})')


def root_of(joints: np.ndarray, root_joints: Sequence[int]) -> np.ndarray:
    """The root [..., 1, 3] of ``joints`` [..., J, 3]: the mean of its ``root_joints``."""
    return joints[..., list(root_joints), :].mean(axis=-2, keepdims=True)


def check_clip_lengths(owner: str, kind: str, what: str, num_clips: int,
                       too_short: Sequence[str], clip_len: int, gap: int) -> None:
    """Refuse a dataset without clips, warn about the sequences that were too short.

    Args:
        owner (str): the dataset class name, for the warnings.
        kind (str): what a sequence is called (``'action'``, ``'video'``).
        what (str): what was loaded (``'the test split'``, ``'subjects [1]'``).
        num_clips (int): clips cut from the long enough sequences.
        too_short (Sequence[str]): ``'<name> (<N> frames)'`` of each sequence too short for one
            clip.
        clip_len (int): frames per clip.
        gap (int): spacing of a clip's frames.

    Raises:
        ValueError: when ``num_clips`` is 0; the message names the frames one clip needs and
            every sequence with its length.
    """
    need = (f'clip_len={clip_len} x gap={gap} needs {clip_span(clip_len, gap)} frames '
            f'((clip_len - 1) * gap + 1)')
    if not num_clips:
        raise ValueError(f'no {kind} of {what} is long enough for one clip: {need}; '
                         f'found {", ".join(too_short)}')
    for entry in too_short:
        warnings.warn(f'{owner}: skipping {kind} {entry}: {need}')


def mean_relative_pose(poses: Iterable[np.ndarray],
                       root_joints: Sequence[int]) -> Optional[np.ndarray]:
    """Mean root-relative pose [J, 3] (float32) over every frame of ``poses``.

    Args:
        poses (Iterable[np.ndarray]): arrays [N, J, 3] of absolute joints (any N, including 0),
            e.g. one per sequence; they are consumed one at a time and accumulated in float64.
        root_joints (Sequence[int]): joints whose mean is the root of each frame.

    Returns:
        np.ndarray | None: the mean over all frames, or None when ``poses`` holds no frame.
    """
    total, count = None, 0
    for joints in poses:
        joints = np.asarray(joints, dtype=np.float64)
        relative = (joints - root_of(joints, root_joints)).sum(axis=0)
        total = relative if total is None else total + relative
        count += len(joints)
    if count == 0:
        return None
    return (total / count).astype(np.float32)


def union_box(points: np.ndarray) -> np.ndarray:
    """The box ``[x1, y1, x2, y2]`` (float32) around all ``points`` ``[..., 2]``; boxes
    ``[..., 4]`` (x1, y1, x2, y2) are pairs of points, so the box around boxes too."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([points.min(0), points.max(0)]).astype(np.float32)


class BasePoseClipDataset(BaseDataset):
    """Base of the datasets of video clips with per-frame 3D joints (not registered).

    It checks the clip arguments, cuts a sequence's frames into clips with root-relative
    targets (:meth:`_sequence_clips`) and, once every sequence is cut, refuses a dataset without
    clips, warns about the sequences too short for one and fills the metainfo
    (:meth:`_finish_data_list`).  A subclass sets ``METAINFO`` (with ``num_keypoints``),
    ``ROOT_JOINTS`` and ``SEQUENCE_KIND`` and implements ``load_data_list`` with these two.

    Args:
        clip_len (int): frames per clip (T). Defaults to 8.
        gap (int): spacing of a clip's frames. Defaults to 2.
        stride (int, optional): distance between clip starts. Defaults to ``clip_len * gap``.
        root_joints (Sequence[int], optional): joints whose mean is the root; targets are
            relative to it. Defaults to None (the class's ``ROOT_JOINTS``).
        compute_mean_pose (bool): put ``mean_pose`` in the metainfo. Defaults to True.
        ann_file, data_root, data_prefix, metainfo, pipeline, test_mode, serialize_data,
        lazy_init, max_refetch, indices, filter_cfg: as :class:`mmengine.dataset.BaseDataset`.
    """

    #: the default ``root_joints``
    ROOT_JOINTS: Tuple[int, ...] = (0, )
    #: what one sequence is called in messages (``'video'``, ``'action'``)
    SEQUENCE_KIND = 'sequence'

    def __init__(self,
                 clip_len: int = 8,
                 gap: int = 2,
                 stride: Optional[int] = None,
                 root_joints: Optional[Sequence[int]] = None,
                 compute_mean_pose: bool = True,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: dict = dict(),
                 metainfo: Optional[dict] = None,
                 pipeline: List[Union[dict, Callable]] = [],
                 test_mode: bool = False,
                 serialize_data: bool = True,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 filter_cfg: Optional[dict] = None):
        self.clip_len, self.gap, self.stride = clip_spacing(clip_len, gap, stride)
        self.root_joints = check_root_joints(
            self.ROOT_JOINTS if root_joints is None else root_joints,
            self.METAINFO['num_keypoints'])
        self.compute_mean_pose = compute_mean_pose
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix=dict(data_prefix), filter_cfg=filter_cfg, indices=indices,
                         serialize_data=serialize_data, pipeline=pipeline,
                         test_mode=test_mode, lazy_init=lazy_init, max_refetch=max_refetch)

    def _sequence_clips(self, joints: np.ndarray, per_frame: Dict[str, Sequence],
                        sequence: dict, visible: Optional[np.ndarray] = None,
                        boxes: Optional[np.ndarray] = None) -> List[dict]:
        """The data_infos of the clips of one sequence ([] when it is shorter than one clip).

        Args:
            joints (np.ndarray): the sequence's absolute joints [N, J, 3], in frame order.
            per_frame (dict[str, Sequence]): values of every frame (``img_paths``,
                ``frame_ids``, ...; N each); a clip gets the list of its frames' values.
            sequence (dict): values every clip of the sequence gets as they are (its name,
                subject, ...).
            visible (np.ndarray, optional): joint visibility [N, J]. Defaults to None (ones).
            boxes (np.ndarray, optional): 2D points [N, K, 2] or boxes [N, 4] of every frame;
                a clip gets ``bbox``, the box around its frames' points or boxes
                (:func:`union_box`). Defaults to None (no ``bbox``).

        Each data_info holds the ``per_frame`` and ``sequence`` keys, ``clip_len``, ``gap``,
        ``joints3d`` [T, J, 3] absolute, ``lifting_target`` [T, J, 3] root-relative,
        ``lifting_target_root`` [T, 1, 3] and ``lifting_target_visible`` [T, J] (float32), and
        ``bbox`` when ``boxes`` is given.
        """
        root = root_of(joints, self.root_joints)
        relative = joints - root
        if visible is None:
            visible = np.ones(joints.shape[:2], np.float32)
        infos = []
        for pos in clip_positions(len(joints), self.clip_len, self.gap, self.stride):
            info = {key: [values[p] for p in pos] for key, values in per_frame.items()}
            info.update(sequence)
            info.update(clip_len=self.clip_len,
                        gap=self.gap,
                        joints3d=joints[pos].copy(),
                        lifting_target=relative[pos].astype(np.float32),
                        lifting_target_root=root[pos].astype(np.float32),
                        lifting_target_visible=visible[pos].astype(np.float32))
            if boxes is not None:
                info['bbox'] = union_box(boxes[pos])
            infos.append(info)
        return infos

    def _finish_data_list(self, data_list: List[dict], too_short: Sequence[str], what: str,
                          subjects: Sequence,
                          mean_pose: Callable[[], Optional[np.ndarray]]) -> List[dict]:
        """``data_list`` once :func:`check_clip_lengths` accepts it (``too_short``: the
        sequences skipped, ``what``: what was loaded), with ``root_joints``, ``clip_len``,
        ``gap``, ``stride``, ``subjects`` (those loaded) and, with ``compute_mean_pose``,
        ``mean_pose()`` put in the metainfo."""
        check_clip_lengths(type(self).__name__, self.SEQUENCE_KIND, what, len(data_list),
                           too_short, self.clip_len, self.gap)
        self._metainfo.update(root_joints=list(self.root_joints), clip_len=self.clip_len,
                              gap=self.gap, stride=self.stride, subjects=list(subjects))
        if self.compute_mean_pose:
            self._metainfo['mean_pose'] = mean_pose()
        return data_list
