"""What the clip pose datasets share: argument checks, clip cutting and the mean pose (private).

A dataset cuts each sequence (an MMHPSD action, a Human3.6M video) of ``N`` frames, counted as
positions ``0 .. N - 1`` in frame order, into clips of ``clip_len`` frames taken every ``gap``-th
frame, with clip starts ``stride`` positions apart (:func:`clip_positions`).  Sequences shorter
than one clip are skipped with a warning, or refused when no sequence is long enough
(:func:`check_clip_lengths`).  Targets are relative to the root, the mean of ``root_joints``
(:func:`root_of`), and the mean pose a baseline for the metric is the mean root-relative pose of
every training frame (:func:`mean_relative_pose`).
"""
from __future__ import annotations

import warnings
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..clip_sampling import (clip_positions, clip_spacing, clip_span,  # noqa: F401
                             positive_int)


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
