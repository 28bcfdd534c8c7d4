"""Video consistency (VC) of semantic segmentation on label maps ``[T, H, W]`` of one video.

VC is the temporal-consistency measure of the VSPW benchmark (Miao et al., CVPR 2021), as its
official ``VC_perclip.py`` script computes it: over windows of ``n`` consecutive frames, the share
of the pixels whose ground truth stays the same in the window on which the prediction stays the
same too.  ``mVC_n`` of a data set is the mean over all windows of all videos.  NumPy only.
"""
from typing import Iterable

import numpy as np

__all__ = ['video_consistency', 'mean_video_consistency']


def _as_labels(x, name) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if hasattr(x, 'detach') else x)
    if x.ndim != 3:
        raise ValueError(f'{name} must be integer label maps [T, H, W] of one video; got shape '
                         f'{x.shape}')
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f'{name} must hold integer labels; got dtype {x.dtype}')
    return x


def _check_length(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f'window length n must be an integer >= 2; got {n!r} '
                        f'({type(n).__name__})')
    if n < 2:
        raise ValueError(f'window length n must be >= 2 (a window compares frames); got n={n}')
    return int(n)


def video_consistency(preds, gts, n: int, annotated=None) -> np.ndarray:
    """Per-window accuracies of VSPW's video consistency ``VC_n`` for one video.

    With ground truth ``g_t`` and prediction ``p_t`` (``t = 0..T-1``) and, for every window
    start ``i = 0 .. T-n-1``::

        G_i = {pixels x : g_i(x) = g_{i+1}(x) = ... = g_{i+n-1}(x)}
        P_i = {pixels x : p_i(x) = p_{i+1}(x) = ... = p_{i+n-1}(x)}
        acc_i = |P_i & G_i| / |G_i|

    Windows with ``|G_i| = 0`` are skipped (the official script gives them NaN and averages with
    ``nanmean``).  As in VSPW's official ``VC_perclip.py``, the starts stop at ``T - n - 1``:
    the last possible window ``i = T - n`` is left out, so a video needs ``T >= n + 1`` frames.
    Labels are compared raw: an ignore label (e.g. 255) is not special-cased, a pixel that keeps
    it through the window is in ``G_i`` like any other.  ``mVC_n`` of a data set is
    :func:`mean_video_consistency` of the arrays of all its videos (weighted by windows).

    Args:
        preds, gts: integer label maps ``[T, H, W]`` of the same shape (NumPy arrays, or tensors
            / array-likes convertible with ``np.asarray``); dtypes may differ.
        n (int): window length, ``>= 2``.
        annotated (array-like of bool ``[T]``, optional): frames that have ground truth; a window
            holding a frame marked False is skipped.  None (default): every frame, as the
            official script.

    Returns:
        np.ndarray: float64 ``[W]``, ``acc_i`` of the kept windows in order of ``i``; empty when
        ``T <= n`` or every window is skipped.
    """
    preds = _as_labels(preds, 'predictions')
    gts = _as_labels(gts, 'ground truth')
    if preds.shape != gts.shape:
        raise ValueError(f'prediction and ground truth shapes differ: {preds.shape} (prediction) '
                         f'vs {gts.shape} (ground truth)')
    n = _check_length(n)
    num_frames = gts.shape[0]
    num_windows = max(num_frames - n, 0)
    keep = np.ones(num_windows, bool)
    if annotated is not None:
        annotated = np.asarray(annotated)
        if annotated.shape != (num_frames, ) or annotated.dtype != bool:
            raise ValueError(f'annotated must be a bool array of shape ({num_frames},) (one flag '
                             f'per frame); got dtype {annotated.dtype}, shape {annotated.shape}')
        missing = np.concatenate([[0], np.cumsum(~annotated)])
        keep &= (missing[n:n + num_windows] - missing[:num_windows]) == 0
    accs = np.full(num_windows, np.nan)
    if not keep.any():
        return accs[:0]
    # run[x] after handling frame t: how many frames from t on keep the label of frame t at
    # pixel x (capped at n).  The labels of frames i..i+n-1 all agree iff run >= n at t = i.
    run_gt = np.ones(gts.shape[1:], np.int32)
    run_pred = np.ones(gts.shape[1:], np.int32)
    for t in range(num_frames - 2, -1, -1):
        run_gt = np.where(gts[t] == gts[t + 1], np.minimum(run_gt + 1, n), 1)
        run_pred = np.where(preds[t] == preds[t + 1], np.minimum(run_pred + 1, n), 1)
        if t < num_windows and keep[t]:
            stable_gt = run_gt >= n
            size = np.count_nonzero(stable_gt)
            if size:
                accs[t] = np.count_nonzero(stable_gt & (run_pred >= n)) / size
    return accs[~np.isnan(accs)]


def mean_video_consistency(per_video_windows: Iterable[np.ndarray]) -> float:
    """``mVC_n``: the mean of the window accuracies of all videos taken together,
    ``sum_v sum_i acc_{v,i} / sum_v W_v`` (each window weighs the same, so a long video weighs
    more; the official script's ``nanmean`` over the concatenated windows).

    Args:
        per_video_windows: the 1-D arrays returned by :func:`video_consistency`, one per video.

    Returns:
        float: a fraction in [0, 1]; NaN when there is no window at all (every video has
        ``T <= n`` frames, or every window was skipped) -- no number exists then, and callers
        should not report one.
    """
    arrays = []
    for index, accs in enumerate(per_video_windows):
        accs = np.asarray(accs, np.float64)
        if accs.ndim != 1:
            raise ValueError(f'window accuracies must be 1-D arrays (one per video, as '
                             f'video_consistency returns); video {index} has shape {accs.shape}')
        arrays.append(accs)
    total = np.concatenate(arrays) if arrays else np.empty(0)
    return float(total.mean()) if total.size else float('nan')
