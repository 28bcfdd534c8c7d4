"""Test-time input noise for robustness evaluation (numpy only; no task codebase).

The SVFormer paper tests its model under two corruptions of the input clip, reproduced here as
pipeline transforms (registered in mmspike's root ``TRANSFORMS``, so any OpenMMLab scope finds
them):

* :class:`GaussianNoise`: add ``N(0, (k * std)^2)`` per pixel value, ``std`` being the clip's own
  pixel standard deviation;
* :class:`SaltPepperNoise`: set a fraction ``p`` of the pixels to white (255) or black (0), half
  each.

Both act on decoded frames (``results['imgs']``, uint8 after ``DecordDecode`` / ``Resize``) and
belong before ``FormatShape``.  The noise is drawn from a generator seeded with ``seed`` and the
sample's index in the dataset (``sample_idx``, which mmengine's datasets add), so repeated
evaluations corrupt every clip the same way whatever the batch size or number of workers.

Differences from the official SVFormer test script (``tools/test_net_rb.py`` of
yult0821/SVFormer): it adds the noise to the normalised input tensor of a whole batch of views,
takes the std of that tensor and does not clip; its salt-and-pepper draws every channel value
independently and uses the batch's maximum and minimum.  Here the std is per clip (the same
number under any per-channel normalisation with one common std, as SVFormer's 0.225), values are
clipped to [0, 255] (they are pixels), and a salt-and-pepper pixel is white or black in all
channels (``per_channel=True`` draws each channel value on its own, as the official script).
"""
import math
import numbers
import zlib
from typing import List, Union

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from .clip_transforms import transform_repr

__all__ = ['GaussianNoise', 'SaltPepperNoise']

PIXEL_MIN, PIXEL_MAX = 0.0, 255.0


def _check_level(value, name: str, upper: float = math.inf) -> float:
    """Return ``value`` as a float if it is a real number in ``[0, upper]``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a real number, got {value!r} '
                        f'({type(value).__name__})')
    value = float(value)
    if not (0.0 <= value <= upper):  # also rejects NaN
        bound = '' if math.isinf(upper) else f' and <= {upper}'
        raise ValueError(f'{name} must be >= 0{bound}, got {value}')
    return value


def sample_rng(seed: int, results: dict) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the sample: its dataset index
    (``sample_idx``) or, without one, its file name."""
    if results.get('sample_idx') is not None:
        key = int(results['sample_idx'])
    else:
        key = zlib.crc32(str(results.get('filename', '')).encode())
    return np.random.default_rng([int(seed), key])


def _clip_array(results: dict, name: str) -> np.ndarray:
    """The decoded frames of ``results`` as one ``[N, H, W, C]`` array."""
    if 'imgs' not in results:
        raise KeyError(f'{name} needs decoded frames ("imgs"): put it after the decode step '
                       f'(e.g. DecordDecode) and before FormatShape; keys are '
                       f'{sorted(results)}')
    imgs = np.asarray(results['imgs'])
    if imgs.ndim not in (3, 4) or imgs.size == 0:
        raise ValueError(f'{name} expects frames of shape [H, W] or [H, W, C], got an array '
                         f'of shape {imgs.shape} for "imgs"')
    return imgs


def _clip_slices(results: dict, num_frames: int, name: str) -> List[slice]:
    """One slice per clip of ``clip_len`` frames (all frames when it is not known)."""
    clip_len = results.get('clip_len') or num_frames
    if num_frames % clip_len:
        raise ValueError(f'{name}: {num_frames} frames do not split into clips of {clip_len}')
    return [slice(start, start + clip_len) for start in range(0, num_frames, clip_len)]


def _store(results: dict, noisy: np.ndarray, dtype: np.dtype) -> dict:
    """Write ``noisy`` (float) back as ``results['imgs']`` in the input dtype, clipped to the
    pixel range; a list of frames stays a list."""
    noisy = np.clip(noisy, PIXEL_MIN, PIXEL_MAX)
    if np.issubdtype(dtype, np.integer):
        noisy = np.rint(noisy)
    noisy = noisy.astype(dtype)
    results['imgs'] = list(noisy) if isinstance(results['imgs'], list) else noisy
    return results


@TRANSFORMS.register_module()
class GaussianNoise(BaseTransform):
    """Add zero-mean Gaussian noise scaled to the clip: ``x + N(0, (k * std)^2)``.

    ``std`` is the population standard deviation of the clip's pixel values (all frames, rows,
    columns and channels of one clip of ``clip_len`` frames; with several clips per video each
    clip uses its own).  Every value gets its own draw; the result is rounded (integer input),
    clipped to [0, 255] and cast back to the input dtype.  A clip of one constant colour has
    std 0 and stays unchanged.

    Required keys: ``imgs``.  Modified keys: ``imgs``.  Uses ``sample_idx`` (or ``filename``)
    and ``clip_len`` when present.

    Args:
        k (float): noise std as a multiple of the clip's std (SVFormer: 0.1, 0.3, 0.5, 1.0);
            0 leaves the clip unchanged.
        seed (int): seed of the noise; combined with the sample index. Defaults to 0.
    """

    def __init__(self, k: float, seed: int = 0):
        self.k = _check_level(k, 'GaussianNoise k')
        self.seed = int(seed)

    def transform(self, results: dict) -> dict:
        name = type(self).__name__
        imgs = _clip_array(results, name)
        if self.k == 0:
            return results
        rng = sample_rng(self.seed, results)
        noisy = imgs.astype(np.float64)
        for clip in _clip_slices(results, len(noisy), name):
            sigma = self.k * noisy[clip].std()
            noisy[clip] += rng.normal(0.0, 1.0, size=noisy[clip].shape) * sigma
        return _store(results, noisy, imgs.dtype)

    def __repr__(self) -> str:
        return transform_repr(self, 'k', 'seed')


@TRANSFORMS.register_module()
class SaltPepperNoise(BaseTransform):
    """Set a fraction ``p`` of the pixels to salt (255) or pepper (0), half each.

    Each pixel (every frame, row and column) is hit independently with probability ``p``; a
    hit pixel becomes 255 with probability 1/2, else 0, in all its channels.  With
    ``per_channel=True`` each channel value is drawn on its own (the official SVFormer script's
    way).  The dtype of the frames is kept.

    Required keys: ``imgs``.  Modified keys: ``imgs``.  Uses ``sample_idx`` (or ``filename``)
    when present.

    Args:
        p (float): fraction of corrupted pixels, in [0, 1] (SVFormer: 0.1, 0.2, 0.3).
        per_channel (bool): draw each channel value separately. Defaults to False.
        seed (int): seed of the noise; combined with the sample index. Defaults to 0.
    """

    def __init__(self, p: float, per_channel: bool = False, seed: int = 0):
        self.p = _check_level(p, 'SaltPepperNoise p', upper=1.0)
        self.per_channel = bool(per_channel)
        self.seed = int(seed)

    def transform(self, results: dict) -> dict:
        imgs = _clip_array(results, type(self).__name__)
        if self.p == 0:
            return results
        rng = sample_rng(self.seed, results)
        shape = imgs.shape if self.per_channel or imgs.ndim == 3 else imgs.shape[:3] + (1, )
        u = rng.random(size=shape)
        noisy = imgs.astype(np.float64)
        # u < p/2: salt; u >= 1 - p/2: pepper (as the official script); broadcast over channels.
        salt = np.broadcast_to(u < self.p / 2, imgs.shape)
        pepper = np.broadcast_to(u >= 1.0 - self.p / 2, imgs.shape)
        noisy[salt] = PIXEL_MAX
        noisy[pepper] = PIXEL_MIN
        return _store(results, noisy, imgs.dtype)

    def __repr__(self) -> str:
        return transform_repr(self, 'p', 'per_channel', 'seed')


def noise_step(noise: str, level: Union[int, float], seed: int = 0) -> dict:
    """The pipeline step (config dict) of one noise setting: ``noise`` is ``'gaussian'`` (level
    ``k``) or ``'salt_pepper'`` (level ``p``)."""
    if noise == 'gaussian':
        return dict(type='GaussianNoise', k=level, seed=seed)
    if noise == 'salt_pepper':
        return dict(type='SaltPepperNoise', p=level, seed=seed)
    raise ValueError(f"noise must be 'gaussian' or 'salt_pepper', got {noise!r}")
