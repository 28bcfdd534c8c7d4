"""Task-independent clip transforms (mmcv/numpy/OpenCV/torch only; no task codebase).

:class:`ShuffleFrames` is registered in mmspike's root ``TRANSFORMS``.  :class:`LoadClipFrames`
is registered by each task package that uses it, in that codebase's registry
(:mod:`mmspike.datasets.pose` in MMPose's, :mod:`mmspike.datasets.seg` in MMSeg's).

Helpers of every transform module here: :func:`transform_repr` (a transform's ``__repr__``),
:func:`clip_frames` and :func:`clip_tensor` (the frames a ``LoadClipFrames`` pipeline carries,
and the ``inputs`` tensor a ``Pack*Inputs`` transform makes of them).
"""
import zlib
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...layers.temporal import positive_pair
from ...registry import TRANSFORMS

#: the steps that turn decoded frames into the model's clip layout (videos, event frames)
FORMAT_STEPS = ('FormatShape', 'FormatEventShape')


def transform_repr(transform, *names: str) -> str:
    """``Name(a=..., b=...)``: the class name of ``transform`` and the ``repr`` of its
    attributes ``names``, in that order."""
    args = ', '.join(f'{name}={getattr(transform, name)!r}' for name in names)
    return f'{type(transform).__name__}({args})'


def clip_frames(results: dict, owner: str, channels: Optional[int] = None) -> np.ndarray:
    """``results['img']`` (one array or a list of frames, as :class:`LoadClipFrames` and the
    later transforms leave it) as one ``[T, H, W, C]`` array; with ``channels``, C must be
    that.  ``owner`` names the transform in the errors."""
    if 'img' not in results:
        raise KeyError(f'{owner} needs "img": put LoadClipFrames before it')
    img = results['img']
    clip = np.stack(img) if isinstance(img, (list, tuple)) else np.asarray(img)
    if clip.ndim != 4 or (channels is not None and clip.shape[-1] != channels):
        expected = f'[T, H, W, {channels if channels is not None else "C"}]'
        raise ValueError(f'{owner}: img must be a clip {expected}, got shape {clip.shape}')
    return clip


def clip_tensor(clip: np.ndarray) -> torch.Tensor:
    """The ``inputs`` of a clip ``[T, H, W, C]``: a tensor ``[C, T, H, W]`` of the same dtype
    (channels first, then time), so that a batch is ``[N, C, T, H, W]``."""
    return torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).contiguous()


def read_frame(path) -> np.ndarray:
    """An image file as OpenCV decodes it (BGR, ``uint8 [H, W, 3]``); ``OSError`` naming the
    file when it is missing or cannot be decoded.  :class:`LoadClipFrames` and the run check
    (:mod:`mmspike.engine.run_checks`) read frames with it."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f'LoadClipFrames: cannot read frame {path} (missing or corrupt)')
    return img


def format_step_index(pipeline: Sequence[dict], purpose: str,
                      formats: Sequence[str] = FORMAT_STEPS) -> int:
    """Index of the first of ``formats`` in ``pipeline`` (step dicts), the place where a
    test-time step on the decoded frames (``ShuffleFrames``, noise) goes; a ``ValueError``
    naming ``purpose`` and the pipeline's steps when there is none."""
    types = [step.get('type') for step in pipeline]
    found = [name for name in formats if name in types]
    if not found:
        raise ValueError(f'{purpose} needs a {" or ".join(formats)} step in the test pipeline, '
                         f'found {types}')
    return types.index(found[0])


@TRANSFORMS.register_module()
class ShuffleFrames(BaseTransform):
    """Randomly permute the decoded frames of a clip (a control for temporal modelling).

    A model that uses temporal order loses accuracy on shuffled clips; a model that only looks
    at frame content does not.  The permutation is a deterministic function of ``seed`` and the
    video's file name, so repeated evaluations see the same shuffled clips.

    Place it after the decode step and before ``FormatShape``.  With several clips per video
    (``num_clips > 1``) each clip is permuted on its own.

    Args:
        seed (int): seed of the permutations. Defaults to 0.
    """

    def __init__(self, seed=0):
        self.seed = seed

    def transform(self, results):
        if 'imgs' not in results:
            raise KeyError('ShuffleFrames needs decoded frames ("imgs"): put it after the '
                           'decode step (e.g. DecordDecode)')
        imgs = results['imgs']
        clip_len = results.get('clip_len', len(imgs))
        if clip_len <= 0 or len(imgs) % clip_len:
            raise ValueError(f'ShuffleFrames: {len(imgs)} frames do not split into clips of '
                             f'{clip_len}')
        name = str(results.get('filename', ''))
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        order = np.concatenate([start + rng.permutation(clip_len)
                                for start in range(0, len(imgs), clip_len)])
        results['imgs'] = [imgs[i] for i in order]
        return results

    def __repr__(self):
        return transform_repr(self, 'seed')


class LoadClipFrames(BaseTransform):
    """Read every frame of ``results['img_paths']`` with OpenCV (one loader for every task).

    Grayscale and colour JPEGs both become 3-channel images.  With ``size`` every frame is
    resized to it (the same operation for all frames of the clip: area interpolation when
    shrinking, bilinear otherwise).

    Required keys: ``img_paths``.  Added keys: ``img`` (one uint8 array [T, H, W, 3]; RGB with
    ``to_rgb``, else OpenCV's BGR), ``img_shape`` and ``ori_shape`` ((H, W) after and before
    resizing).

    Args:
        size (int | tuple[int, int], optional): output (w, h), or one int for square frames.
            Defaults to None (keep the size; all frames of a clip must then agree).
        to_rgb (bool): convert BGR to RGB. Defaults to True.
    """

    def __init__(self, size: Union[int, Sequence[int], None] = None, to_rgb: bool = True):
        self.size = positive_pair(size, 'size', '(w, h)')
        self.to_rgb = to_rgb

    def transform(self, results: dict) -> dict:
        paths = results.get('img_paths')
        if not paths:
            raise KeyError('LoadClipFrames needs a non-empty "img_paths" list')
        frames, ori_shape = [], None
        for path in paths:
            img = read_frame(path)
            if ori_shape is None:
                ori_shape = img.shape[:2]
            if self.size is not None:
                h, w = img.shape[:2]
                shrink = self.size[0] * self.size[1] < w * h
                img = cv2.resize(img, self.size,
                                 interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            elif frames and img.shape[:2] != frames[0].shape[:2]:
                raise ValueError(f'LoadClipFrames: frame {path} is {img.shape[:2]} but the '
                                 f'clip\'s first frame {paths[0]} is {frames[0].shape[:2]}; '
                                 f'set size= to resize')
            if self.to_rgb:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            frames.append(img)
        clip = np.stack(frames)
        results['img'] = clip
        results['img_shape'] = clip.shape[1:3]
        results['ori_shape'] = tuple(ori_shape)
        return results

    def __repr__(self):
        return transform_repr(self, 'size', 'to_rgb')
