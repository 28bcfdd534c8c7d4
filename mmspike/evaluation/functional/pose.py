"""3D pose errors on arrays ``[..., T, J, 3]`` (any leading dims, T frames, J joints).

Every function returns the mean over all frames and joints (of all leading dims) in the unit of
its inputs; the pose metric multiplies metres by 1000 to report mm.  Inputs may be NumPy arrays or
tensors; the computation is float64 NumPy.
"""
import numpy as np

__all__ = ['mpjpe', 'pel_mpjpe', 'pa_mpjpe', 'accel_error', 'procrustes_align', 'as_float64']


def as_float64(x) -> np.ndarray:
    """A NumPy array or a tensor (any device, with or without grad) as a float64 array."""
    return np.asarray(x.detach().cpu() if hasattr(x, 'detach') else x, np.float64)


def _pair(pred, target, min_frames=1):
    pred, target = as_float64(pred), as_float64(target)
    if pred.shape != target.shape:
        raise ValueError(f'prediction and target shapes differ: {pred.shape} vs {target.shape}')
    if pred.ndim < 3 or pred.shape[-1] != 3:
        raise ValueError(f'expected poses [..., T, J, 3], got shape {pred.shape}')
    if pred.shape[-3] < min_frames:
        raise ValueError(f'needs at least {min_frames} frames, got T={pred.shape[-3]} '
                         f'(shape {pred.shape})')
    return pred, target


def mpjpe(pred, target) -> float:
    """Mean per-joint position error: ``mean_{t,j} || P[t,j] - G[t,j] ||_2``."""
    pred, target = _pair(pred, target)
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def pel_mpjpe(pred, target, root=(1, 2)) -> float:
    """MPJPE after aligning the pelvis: ``P - mean_{r in root} P[r]`` against the same for ``G``.

    ``root`` lists the joints whose mean is the pelvis: SMPL's 24 joints use the two hips (1, 2)
    as the MMHPSD tracker does; Human3.6M's 17 joints use joint (0, ).
    """
    pred, target = _pair(pred, target)
    root = list(root)
    if max(root) >= pred.shape[-2]:
        raise ValueError(f'root joints {tuple(root)} out of range for J={pred.shape[-2]}')
    pred = pred - pred[..., root, :].mean(axis=-2, keepdims=True)
    target = target - target[..., root, :].mean(axis=-2, keepdims=True)
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def procrustes_align(pred, target):
    """``P`` moved by the similarity transform (scale ``s``, rotation ``R``, translation ``t``)
    that best fits ``G`` in the least-squares sense, for every frame on its own.

    Per frame (Umeyama 1991): centre both (``X = P - mean P``, ``Y = G - mean G``), take the SVD
    ``X^T Y = U S V^T``, ``D = diag(1, 1, sign det(V U^T))`` (no reflection), ``R = V D U^T``,
    ``s = tr(D S) / ||X||_F^2``; the aligned pose is ``s X R^T + mean G``.
    """
    pred, target = _pair(pred, target)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_g = target.mean(axis=-2, keepdims=True)
    x, y = pred - mu_p, target - mu_g
    h = np.swapaxes(x, -1, -2) @ y                       # [..., 3, 3]
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    diag = np.ones(s.shape)
    diag[..., -1] = d
    rotation = (v * diag[..., None, :]) @ np.swapaxes(u, -1, -2)
    norm = np.maximum((x ** 2).sum(axis=(-1, -2)), np.finfo(np.float64).tiny)
    scale = (s * diag).sum(axis=-1) / norm
    return scale[..., None, None] * (x @ np.swapaxes(rotation, -1, -2)) + mu_g


def pa_mpjpe(pred, target) -> float:
    """Procrustes-aligned MPJPE: :func:`mpjpe` of :func:`procrustes_align` ``(P, G)`` and ``G``
    (similarity transform per frame, reflection excluded)."""
    return mpjpe(procrustes_align(pred, target), target)


def accel_error(pred, target) -> float:
    """Acceleration error: ``mean_{t,j} || a_P[t,j] - a_G[t,j] ||_2`` with the second difference
    ``a[t] = X[t+1] - 2 X[t] + X[t-1]`` for ``t = 1..T-2`` (per frame step; divide by the squared
    frame interval for physical units).  Needs ``T >= 3``."""
    pred, target = _pair(pred, target, min_frames=3)

    def second_difference(x):
        return x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]

    return float(np.linalg.norm(second_difference(pred) - second_difference(target),
                                axis=-1).mean())
