"""Argument checks and the cutting of videos into clips, shared by every clip dataset and data
generator (pose, segmentation; no codebase imported).

A video (an MMHPSD action, a Human3.6M video, a VSPW video) of ``N`` frames, counted as positions
``0 .. N - 1`` in frame order, is cut into clips of ``clip_len`` frames taken every ``gap``-th
frame, with clip starts ``stride`` positions apart (:func:`clip_positions`).
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


def positive_int(name: str, value) -> int:
    """``value`` as an int; ValueError unless it is a positive integer (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def bounded_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int; ValueError naming ``name`` unless it is an integer (bools refused)
    in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    if maximum is not None and value > maximum:
        raise ValueError(f'{name} must be <= {maximum}, got {value}')
    return int(value)


def clip_spacing(clip_len, gap, stride) -> Tuple[int, int, int]:
    """Checked ``(clip_len, gap, stride)``; ``stride`` None means ``clip_len * gap`` (clips
    that continue the same spacing without overlap)."""
    clip_len, gap = positive_int('clip_len', clip_len), positive_int('gap', gap)
    return clip_len, gap, clip_len * gap if stride is None else positive_int('stride', stride)


def clip_span(clip_len: int, gap: int) -> int:
    """Frames one clip covers: ``(clip_len - 1) * gap + 1``."""
    return (clip_len - 1) * gap + 1


def clip_positions(num_frames: int, clip_len: int, gap: int, stride: int) -> List[List[int]]:
    """Frame positions of every clip of a video of ``num_frames`` frames: clip ``k`` holds
    ``s, s + gap, ..., s + (clip_len - 1) * gap`` with ``s = k * stride``, as long as it fits
    ([] when the video is shorter than :func:`clip_span`)."""
    span = clip_span(clip_len, gap)
    return [list(range(start, start + span, gap))
            for start in range(0, num_frames - span + 1, stride)]
