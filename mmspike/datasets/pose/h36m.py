"""Human3.6M as clips of RGB frames with 3D pose targets, for MMPose.

Layout: MMPose's, as its converter ``tools/dataset_converters/preprocess_h36m.py`` writes it and
its configs read it (``data_root='data/h36m/'``, ``data_prefix=dict(img='images/')``)::

    data_root/annotation_body3d/fps50/h36m_train.npz        (subjects S1, S5, S6, S7, S8)
    data_root/annotation_body3d/fps50/h36m_test.npz         (subjects S9, S11)
    data_root/images/S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg

One npz per split, one row per frame: ``imgname`` (N,) strings, ``center`` (N, 2), ``scale``
(N,), ``part`` (N, 17, 3) (2D joints in pixels and visibility) and ``S`` (N, 17, 4) (3D joints in
metres, camera coordinates, and visibility).  Only ``imgname`` and ``S`` are read.  An
``imgname`` is the frame's path under the image prefix
(``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``, as the converter writes
it) or only its file name (``S1_Directions_1.54138969_000001.jpg``, as some of MMPose's test
data); a file name is looked up in ``<subject>/<video>/``.  The file name encodes the subject,
the action (with an optional sub-index, ``Directions_1``), the camera id and the frame number;
the rows of one video, a (subject, action, camera) triple as MMPose's ``Human36mDataset`` groups
them, are put in frame-number order whatever their order in the file.
"""
from __future__ import annotations

import os
import os.path as osp
import re
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmpose.registry import DATASETS

from ..clip_sampling import clip_span, positive_int
from .base import BasePoseClipDataset, check_finite, mean_relative_pose, skeleton_metainfo

H36M_JOINT_NAMES = ('root', 'right_hip', 'right_knee', 'right_foot', 'left_hip', 'left_knee',
                    'left_foot', 'spine', 'thorax', 'neck_base', 'head', 'left_shoulder',
                    'left_elbow', 'left_wrist', 'right_shoulder', 'right_elbow', 'right_wrist')
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_FLIP_INDEX = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
NUM_JOINTS = len(H36M_JOINT_NAMES)
TRAIN_SUBJECTS = ('S1', 'S5', 'S6', 'S7', 'S8')
TEST_SUBJECTS = ('S9', 'S11')
REQUIRED_KEYS = ('imgname', 'S')
BOX_KEYS = ('center', 'scale')  # optional: person boxes for CropClipToBox

# subject, action (may hold '_', not '.'), camera id, frame number
_IMGNAME_RE = re.compile(r'^(S\d+)_([^.]+)\.([^._]+)_(\d+)\.[A-Za-z]+$')


def parse_imgname(imgname: str) -> Tuple[str, str, str, int]:
    """(subject, action, camera, frame number) of a Human3.6M image name.

    ``'S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg'`` or its file name give
    ``('S1', 'Directions_1', '54138969', 1)``.  ValueError for a name of another form.
    """
    match = _IMGNAME_RE.match(osp.basename(imgname))
    if match is None:
        raise ValueError(f'Human3.6M image name {imgname!r} is not of the form '
                         f'<subject>_<action>.<camera>_<frame>.jpg (e.g. '
                         f'S1_Directions_1.54138969_000001.jpg)')
    subject, action, camera, frame = match.groups()
    return subject, action, camera, int(frame)


def _subject_name(value) -> str:
    """``'S9'`` from 9 or ``'S9'``; ValueError otherwise."""
    if isinstance(value, str) and re.fullmatch(r'S[1-9]\d*', value):
        return value
    return f'S{positive_int("subject", value)}'


def _subject_key(name):
    return int(name[1:])


def _resolve(path: Optional[str], data_root: str) -> str:
    """``path`` joined to ``data_root`` unless it is absolute (as mmengine joins ann_file)."""
    if not path:
        return ''
    return path if osp.isabs(path) or not data_root else osp.join(data_root, path)


def _person_boxes(center: np.ndarray, scale: np.ndarray, path: str) -> np.ndarray:
    """Person boxes ``[x1, y1, x2, y2]`` (N, 4) float32 from ``center`` (N, 2) and ``scale``
    (N,) (MMPose's convention: ``scale`` = box side / 200)."""
    center = np.asarray(center, np.float64)
    scale = np.asarray(scale, np.float64).reshape(-1)
    if center.ndim != 2 or center.shape[1] != 2 or len(scale) != len(center):
        raise ValueError(f'Human3.6M annotation file {path}: center must be (N, 2) and scale '
                         f'(N,), got {center.shape} and {scale.shape}')
    half = 100.0 * scale[:, None]
    return np.concatenate([center - half, center + half], axis=1).astype(np.float32)


def load_h36m_annotations(path: str) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """``imgname`` (N,) str, ``S`` (N, 17, 4) float32 and the person boxes ``[x1, y1, x2, y2]``
    (N, 4) float32 (from ``center`` +- 100 ``scale``; None when the file has neither) of a
    Human3.6M npz in MMPose's layout, read in one pass.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file is not an npz, lacks ``imgname`` or ``S``, ``S`` is not
            (N, 17, 4), ``imgname`` is not (N,) strings, it holds no row, or ``center`` /
            ``scale`` are not (N, 2) / (N,).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Human3.6M annotation file {path!r} does not exist')
    try:
        with np.load(path, allow_pickle=False) as ann:
            keys = sorted(ann.files)
            arrays = {k: np.asarray(ann[k]) for k in REQUIRED_KEYS + BOX_KEYS if k in keys}
    except Exception as error:  # not an npz: numpy and zipfile raise many types
        raise ValueError(f'cannot read Human3.6M annotation file {path}: {error}') from error
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise ValueError(f'Human3.6M annotation file {path} has no {missing} array(s): '
                         f'expected keys {list(REQUIRED_KEYS)} (MMPose layout: imgname, center, '
                         f'scale, part, S), found keys {keys}')
    imgname, joints = arrays['imgname'], arrays['S']
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 4):
        raise ValueError(f'Human3.6M annotation file {path}: S must have shape '
                         f'(N, {NUM_JOINTS}, 4) ({NUM_JOINTS} joints: x, y, z in metres and '
                         f'visibility), got {joints.shape}')
    if imgname.dtype.kind == 'S':
        imgname = np.char.decode(imgname, 'utf-8')
    if imgname.ndim != 1 or imgname.dtype.kind != 'U':
        raise ValueError(f'Human3.6M annotation file {path}: imgname must be (N,) strings, got '
                         f'{imgname.dtype} array of shape {imgname.shape}')
    if len(imgname) != len(joints):
        raise ValueError(f'Human3.6M annotation file {path}: imgname has {len(imgname)} rows '
                         f'but S has {len(joints)}')
    if not len(joints):
        raise ValueError(f'Human3.6M annotation file {path} holds no frame (0 rows)')
    joints = joints.astype(np.float32)
    check_finite(joints[..., :3], 'S (joints x, y, z)', path)  # in float32, as used
    boxes = None
    if all(k in arrays for k in BOX_KEYS):
        boxes = _person_boxes(arrays['center'], arrays['scale'], path)
        check_finite(boxes, 'the person boxes (center, scale)', path)
        if len(boxes) != len(joints):
            raise ValueError(f'Human3.6M annotation file {path}: center / scale have '
                             f'{len(boxes)} rows but S has {len(joints)}')
    return imgname, joints, boxes


def _group_videos(imgnames: np.ndarray, path: str) -> Dict[Tuple[str, str, str], dict]:
    """{(subject, action, camera): {'rows': rows in frame order, 'frames': frame numbers}}."""
    videos = {}
    for row, name in enumerate(imgnames.tolist()):
        subject, action, camera, frame = parse_imgname(name)
        video = videos.setdefault((subject, action, camera), dict(rows=[], frames=[]))
        video['rows'].append(row)
        video['frames'].append(frame)
    for (subject, action, camera), video in videos.items():
        order = np.argsort(video['frames'], kind='stable')
        rows = np.asarray(video['rows'])[order]
        frames = np.asarray(video['frames'])[order]
        repeated = np.flatnonzero(np.diff(frames) == 0)
        if len(repeated):
            i = repeated[0]
            raise ValueError(f'Human3.6M annotation file {path}: video '
                             f'{subject}_{action}.{camera} has frame {frames[i]} twice (rows '
                             f'{rows[i]} and {rows[i + 1]}: {imgnames[rows[i]]!r}, '
                             f'{imgnames[rows[i + 1]]!r})')
        video.update(rows=rows, frames=frames)
    return videos


@DATASETS.register_module()
class Human36mClipDataset(BasePoseClipDataset):
    """Human3.6M video clips with per-frame 3D joints (17 joints, camera frame, metres).

    Every video (subject, action, camera) of ``ann_file`` is cut into clips of ``clip_len``
    frames, taken every ``gap``-th frame; clip starts are ``stride`` frames apart.  Frames are
    counted as positions in the video's rows sorted by frame number, so a clip holds the frames
    at positions ``s, s + gap, ..., s + (clip_len - 1) * gap`` and needs
    ``(clip_len - 1) * gap + 1`` frames (with MMPose's ``fps50`` annotations ``gap=2`` is 25
    fps).  The default stride, ``clip_len * gap``, makes consecutive clips continue the same
    ``gap`` spacing without overlap.  The split is the annotation file's (MMPose writes
    ``h36m_train.npz`` with S1, S5, S6, S7, S8 and ``h36m_test.npz`` with S9, S11).

    Args:
        ann_file (str): the split's npz (MMPose's layout, see the module), relative to
            ``data_root`` unless absolute. Defaults to '' (refused: it must be given).
        data_root (str): the dataset root. Defaults to ''.
        data_prefix (dict): ``img``: the folder of the frames, relative to ``data_root``
            unless absolute. Defaults to ``dict(img='images/')`` (MMPose's configs).
        subjects (Sequence[int | str], optional): load only these subjects' rows (``9`` or
            ``'S9'``). Defaults to None (every row of ``ann_file``).
        clip_len (int): frames per clip (T). Defaults to 8.
        gap (int): spacing of the clip's frames. Defaults to 2.
        stride (int, optional): distance between clip starts. Defaults to ``clip_len * gap``.
        root_joints (Sequence[int]): joints whose mean is the root; targets are relative to it.
            Defaults to ``(0,)``, Human3.6M's pelvis.
        compute_mean_pose (bool): put ``mean_pose`` in the metainfo (see below).
            Defaults to True.
        mean_pose_ann_file (str, optional): the npz whose training-subject rows give
            ``mean_pose`` (relative to ``data_root`` unless absolute): the training split's
            annotation file for a test-split dataset. Defaults to None (``ann_file``).
        metainfo, pipeline, test_mode, serialize_data, lazy_init, max_refetch, indices,
        filter_cfg: as :class:`mmengine.dataset.BaseDataset` (keyword arguments).

    Metainfo: MMPose's dataset info of its 17 Human3.6M joints (``dataset_name`` 'h36m',
    ``keypoint_info``, ``skeleton_info`` and what ``parse_pose_metainfo`` derives from them:
    ``num_keypoints``, ``keypoint_id2name``, ``skeleton_links`` (parent, child), ``flip_indices``,
    ``keypoint_colors`` and ``skeleton_link_colors`` (uint8 RGB, MMPose's: left green, right
    orange, centre blue), ...; see :func:`~mmspike.datasets.pose.base.skeleton_metainfo`),
    ``joint_names`` (MMPose's names), ``parents``, ``root_joints``, ``clip_len``, ``gap``,
    ``stride``, ``subjects`` (those loaded, e.g. ``['S1', 'S5']``) and ``mean_pose``: the mean
    root-relative pose [17, 3] (float32, metres) over every row of a *training* subject (S1, S5,
    S6, S7, S8) in ``mean_pose_ann_file``, whatever subjects this dataset loads (so a
    test-split dataset can report a mean-pose baseline without looking at test poses).  It is
    ``None``, with a warning, when that file holds no training-subject row, and it is set when
    the data list is loaded (after ``full_init`` with ``lazy_init=True``).

    Each data_info holds ``img_paths`` (T str), ``frame_ids`` (T int, the frame numbers of the
    image names), ``ann_rows`` (T int, the rows of ``ann_file``), ``video``
    (``'S1_Directions_1.54138969'``), ``subject`` (``'S1'``), ``action`` (``'Directions_1'``),
    ``camera`` (``'54138969'``), ``clip_len``, ``gap``, ``joints3d`` [T, 17, 3] absolute,
    ``lifting_target`` [T, 17, 3] root-relative, ``lifting_target_root`` [T, 1, 3] and
    ``lifting_target_visible`` [T, 17] (``S[..., 3]``), all float32, and, when the file has
    ``center`` and ``scale``, ``bbox``: the box ``[x1, y1, x2, y2]`` around the clip's person
    boxes (``center`` +- 100 ``scale``, MMPose's convention) for
    :class:`~mmspike.datasets.pose.CropClipToBox`.

    Errors: ``FileNotFoundError`` for a missing ``ann_file`` or ``mean_pose_ann_file`` or a
    missing frame image (any row of a loaded subject); ``ValueError`` for bad arguments, an
    annotation file without ``imgname`` or ``S``, with ``S`` not (N, 17, 4) or an image name
    not of the Human3.6M form, a frame number twice in a video, no row of the requested
    subjects, or when no video is long enough for one clip (the message names every video and
    its length; videos that are too short are skipped with a warning if others are long
    enough).
    """

    METAINFO = skeleton_metainfo('h36m', H36M_JOINT_NAMES, H36M_PARENTS, H36M_FLIP_INDEX)

    ROOT_JOINTS = (0, )
    SEQUENCE_KIND = 'video'

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: dict = dict(img='images/'),
                 subjects: Optional[Sequence[Union[int, str]]] = None,
                 clip_len: int = 8,
                 gap: int = 2,
                 stride: Optional[int] = None,
                 root_joints: Sequence[int] = ROOT_JOINTS,
                 compute_mean_pose: bool = True,
                 mean_pose_ann_file: Optional[str] = None,
                 **kwargs):
        if subjects is not None:
            if isinstance(subjects, (int, str)) or not len(subjects):
                raise ValueError(f"subjects must be a non-empty list of subjects (9 or 'S9'), "
                                 f'got {subjects!r}')
            self.subjects = sorted({_subject_name(s) for s in subjects}, key=_subject_key)
        else:
            self.subjects = None
        if not isinstance(data_prefix, dict) or not isinstance(data_prefix.get('img'), str):
            raise ValueError(f"data_prefix must be a dict with a str 'img' (the frames' folder), "
                             f'got {data_prefix!r}')
        # checked here, not only when the data list loads, so that lazy_init fails early too
        for name, path in (('ann_file', ann_file), ('mean_pose_ann_file', mean_pose_ann_file)):
            resolved = _resolve(path, data_root)
            if (path or name == 'ann_file') and not osp.isfile(resolved):
                raise FileNotFoundError(f'Human3.6M {name} {resolved!r} does not exist '
                                        f'({name}={path!r}, data_root={data_root!r})')
        self.mean_pose_ann_file = _resolve(mean_pose_ann_file, data_root) or None
        super().__init__(clip_len=clip_len, gap=gap, stride=stride, root_joints=root_joints,
                         compute_mean_pose=compute_mean_pose, ann_file=ann_file,
                         data_root=data_root, data_prefix=data_prefix, **kwargs)

    # ------------------------------------------------------------------------------------
    def _frame_path(self, imgname: str, subject: str, action: str, camera: str) -> str:
        """Where the frame of ``imgname`` is: under the image prefix as given if it has folders,
        else in ``<subject>/<subject>_<action>.<camera>/`` (the converter's video folder)."""
        if '/' in imgname:
            return osp.join(self.data_prefix['img'], imgname)
        return osp.join(self.data_prefix['img'], subject, f'{subject}_{action}.{camera}',
                        imgname)

    def _check_frames(self, video_name: str, paths: List[str], rows: np.ndarray,
                      listings: Dict[str, set]) -> None:
        """FileNotFoundError naming the first frame of ``paths`` whose file is missing."""
        missing = []
        for path, row in zip(paths, rows):
            folder, name = osp.split(path)
            if folder not in listings:
                listings[folder] = set(os.listdir(folder)) if osp.isdir(folder) else set()
            if name not in listings[folder]:
                missing.append((path, row))
        if missing:
            path, row = missing[0]
            raise FileNotFoundError(
                f'Human3.6M frame image {path} is missing (row {row} of {self.ann_file}, video '
                f'{video_name}); {len(missing)} of the video\'s {len(paths)} frames are missing')

    def load_data_list(self) -> List[dict]:
        imgnames, joints_all, boxes = load_h36m_annotations(self.ann_file)
        videos = _group_videos(imgnames, self.ann_file)
        found = sorted({s for s, _, _ in videos}, key=_subject_key)
        selected = sorted((key for key in videos
                           if self.subjects is None or key[0] in self.subjects),
                          key=lambda k: (_subject_key(k[0]), k[1], k[2]))
        what = (f'subjects {self.subjects}' if self.subjects is not None
                else f'{osp.basename(self.ann_file)}')
        if not selected:
            raise ValueError(f'no Human3.6M rows of {what} in {self.ann_file} (it holds '
                             f'subjects {found})')

        span = clip_span(self.clip_len, self.gap)
        data_list, too_short, listings = [], [], {}
        for subject, action, camera in selected:
            video = videos[(subject, action, camera)]
            rows, frames = video['rows'], video['frames']
            video_name = f'{subject}_{action}.{camera}'
            paths = [self._frame_path(imgnames[r], subject, action, camera) for r in rows]
            self._check_frames(video_name, paths, rows, listings)
            if len(rows) < span:
                too_short.append(f'{video_name} ({len(rows)} frames)')
                continue
            data_list.extend(self._sequence_clips(
                joints_all[rows, :, :3],
                per_frame=dict(img_paths=paths, frame_ids=frames.tolist(), ann_rows=rows.tolist()),
                sequence=dict(video=video_name, subject=subject, action=action, camera=camera),
                visible=joints_all[rows, :, 3],
                boxes=None if boxes is None else boxes[rows]))
        return self._finish_data_list(
            data_list, too_short, what, sorted({s for s, _, _ in selected}, key=_subject_key),
            mean_pose=lambda: self._mean_pose(imgnames, joints_all, videos))

    def _mean_pose(self, imgnames, joints_all, videos):
        """Mean root-relative pose [17, 3] over every training-subject row of
        ``mean_pose_ann_file`` (``ann_file`` when None)."""
        path = self.mean_pose_ann_file or self.ann_file
        if self.mean_pose_ann_file and osp.abspath(path) != osp.abspath(self.ann_file):
            imgnames, joints_all, _ = load_h36m_annotations(path)
            videos = _group_videos(imgnames, path)
        # one video at a time: the full training split holds 1.5 M rows at 50 fps
        poses = (joints_all[video['rows'], :, :3] for (subject, _, _), video in videos.items()
                 if subject in TRAIN_SUBJECTS)
        mean_pose = mean_relative_pose(poses, self.root_joints)
        if mean_pose is None:
            warnings.warn(f'Human36mClipDataset: no training-subject '
                          f'({", ".join(TRAIN_SUBJECTS)}) rows in {path}; metainfo mean_pose '
                          f'is None')
        return mean_pose
