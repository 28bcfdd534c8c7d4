"""Clip transforms for video semantic segmentation (MMSeg registry).

Every geometric transform here draws its random parameters once per clip and applies the same
operation to every frame and every mask of the clip.  Frames are ``results['img']`` (uint8
[T, H, W, 3]), masks the [T, H, W] arrays named in ``results['seg_fields']`` (``gt_seg_map``).

A pipeline reads the frames, then the masks, *before* any resize::

    [dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
     dict(type='ClipRandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0)),
     dict(type='ClipRandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
     dict(type='ClipRandomFlip', prob=0.5), dict(type='PackClipSegInputs')]

Masks are always read at the frames' size on disk (``ori_shape``).  A test pipeline may resize
the frames first and load the masks after, as MMSeg's test pipelines do, so that the metrics
compare the predictions (resized back to ``ori_shape`` by the segmentor) with the masks at
their original resolution::

    [dict(type='LoadClipFrames'), dict(type='ClipResize', scale=(853, 480)),
     dict(type='LoadClipSegMaps'), dict(type='PackClipSegInputs')]
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample
from PIL import Image

from ...layers.temporal import positive_pair
from .clip_transforms import LoadClipFrames, clip_frames, clip_tensor, transform_repr

IGNORE = 255

# one clip loader for every task (mmspike.datasets.transforms); registered here for MMSeg
TRANSFORMS.register_module(module=LoadClipFrames)


def _seg_keys(results: dict):
    return [key for key in results.get('seg_fields', []) if key in results]


def read_mask(path) -> np.ndarray:
    """A mask as PIL decodes it: palette PNGs give their indices, grayscale their values
    (``OSError`` naming the file when it cannot be decoded; the run check decodes masks with
    it too)."""
    try:
        with Image.open(path) as image:
            return np.array(image)
    except (OSError, ValueError) as error:
        raise OSError(f'LoadClipSegMaps: cannot read mask {path}: {error}') from error


@TRANSFORMS.register_module()
class LoadClipSegMaps(BaseTransform):
    """Read the masks of a clip, like MMSeg's ``LoadAnnotations`` for every frame.

    Each mask is decoded with PIL (as ``LoadAnnotations`` with its default 'pillow' backend:
    a palette PNG gives its indices, a grayscale PNG its values).  A frame whose
    ``seg_map_paths`` entry is None (not annotated) gets a mask of 255 (ignored).  Then, as
    ``LoadAnnotations``: with ``reduce_zero_label`` 0 -> 255 and ``k`` -> ``k - 1`` (255 stays),
    then ``label_map`` (old id -> new id).  Every resulting value must be 255 or in ``[0,
    num_classes)``.

    Place it right after ``LoadClipFrames`` (without ``size``) and before any resize or crop:
    the masks must have the frames' size as read (``ori_shape``), and the later transforms
    resize frames and masks together.

    Required keys: ``seg_map_paths`` (T paths or None), ``ori_shape`` and ``img_shape`` (from
    ``LoadClipFrames``); optional ``reduce_zero_label`` (default False), ``label_map``,
    ``num_classes`` (without it no range check).  Added: ``gt_seg_map`` (uint8 [T, H, W]);
    ``seg_fields`` gets ``'gt_seg_map'``.

    Errors: ``ValueError`` for a mask whose (H, W) differs from the frames', a mask that is not
    single-channel, values outside the class range (naming the file, the offending values and
    the valid range), frames already resized, or a number of masks that differs from the
    number of frames; ``OSError`` for an unreadable mask.
    """

    def transform(self, results: dict) -> dict:
        paths = results.get('seg_map_paths')
        if paths is None:
            raise KeyError('LoadClipSegMaps needs "seg_map_paths" (a clip dataset item)')
        if 'ori_shape' not in results:
            raise KeyError('LoadClipSegMaps needs the frames\' "ori_shape": put LoadClipFrames '
                           'before it')
        ori_shape = tuple(int(v) for v in results['ori_shape'][:2])
        num_frames = len(results.get('img_paths', paths))
        if len(paths) != num_frames:
            raise ValueError(f'LoadClipSegMaps: {len(paths)} seg_map_paths for {num_frames} '
                             f'frames')
        reduce_zero_label = bool(results.get('reduce_zero_label', False))
        label_map = results.get('label_map', None)
        num_classes = results.get('num_classes', None)
        masks = [self._load(path, ori_shape, reduce_zero_label, label_map, num_classes)
                 for path in paths]
        results['gt_seg_map'] = np.stack(masks)
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results

    @staticmethod
    def _load(path, shape, reduce_zero_label, label_map, num_classes) -> np.ndarray:
        if path is None:
            return np.full(shape, IGNORE, dtype=np.uint8)
        raw = read_mask(path)
        if raw.ndim == 3 and raw.shape[-1] == 1:
            raw = raw[..., 0]
        if raw.ndim != 2:
            raise ValueError(f'LoadClipSegMaps: mask {path} must be single-channel (palette '
                             f'or grayscale PNG), got an array of shape {raw.shape}')
        if raw.shape != shape:
            raise ValueError(f'LoadClipSegMaps: mask {path} is {raw.shape[0]} x {raw.shape[1]} '
                             f'(H x W) but its frame is {shape[0]} x {shape[1]}')
        raw = raw.astype(np.int64)
        labels = raw.copy()
        if reduce_zero_label:
            labels[raw == 0] = IGNORE + 1
            labels -= 1  # 0 -> 255, k -> k - 1, 255 -> 254 ...
            labels[raw == IGNORE] = IGNORE  # ... and 255 stays
        if label_map:
            mapped = labels.copy()
            for old, new in label_map.items():
                mapped[labels == old] = new
            labels = mapped
        if num_classes is not None:
            bad = (labels != IGNORE) & ((labels < 0) | (labels >= int(num_classes)))
        else:
            bad = (labels != IGNORE) & ((labels < 0) | (labels > IGNORE))
        if bad.any():
            values = np.unique(raw[bad]).tolist()
            shown = values[:10] + (['...'] if len(values) > 10 else [])
            steps = ' after reduce_zero_label (0 -> 255, k -> k - 1)' if reduce_zero_label else ''
            steps += ' and label_map' if label_map else ''
            top = num_classes if num_classes is not None else IGNORE
            raise ValueError(f'LoadClipSegMaps: mask {path} has values {shown} that are not '
                             f'class ids{steps}: labels must be in [0, {top}) or {IGNORE} '
                             f'(ignored)')
        return labels.astype(np.uint8)

    def __repr__(self):
        return transform_repr(self)


def _resize_clip(results: dict, size: Tuple[int, int], keep_ratio: bool) -> dict:
    """Resize frames (bilinear) and masks (nearest) of ``results`` to ``size`` (w, h)."""
    clip = clip_frames(results, 'ClipResize')
    h, w = clip.shape[1:3]
    new_w, new_h = size
    if (new_w, new_h) != (w, h):
        clip = np.stack([mmcv.imresize(frame, (new_w, new_h), interpolation='bilinear')
                         for frame in clip])
        if clip.ndim == 3:  # single-channel frames lose their channel axis in cv2
            clip = clip[..., None]
        for key in _seg_keys(results):
            results[key] = np.stack([mmcv.imresize(mask, (new_w, new_h),
                                                   interpolation='nearest')
                                     for mask in results[key]])
    results['img'] = clip
    results['img_shape'] = (new_h, new_w)
    old = np.asarray(results.get('scale_factor', (1.0, 1.0)), dtype=np.float64)
    results['scale_factor'] = (float(old[0] * new_w / w), float(old[1] * new_h / h))
    results['keep_ratio'] = keep_ratio
    return results


def _target_size(hw, scale: Tuple[int, int], keep_ratio: bool) -> Tuple[int, int]:
    """(w, h) of a frame of size ``hw`` resized to ``scale`` (w, h), like MMSeg's Resize: with
    ``keep_ratio`` as large as fits in ``scale``'s long and short edges."""
    if not keep_ratio:
        return scale
    h, w = hw
    return tuple(mmcv.rescale_size((w, h), scale))


@TRANSFORMS.register_module()
class ClipResize(BaseTransform):
    """Resize every frame (bilinear) and mask (nearest) of a clip to the same size.

    Args:
        scale (int | tuple[int, int]): target (w, h).  With ``keep_ratio`` the frames are
            scaled by one factor, the largest for which the long edge fits ``max(scale)`` and
            the short edge ``min(scale)`` (MMSeg's ``Resize``).
        keep_ratio (bool): keep the aspect ratio. Defaults to True.

    Modified keys: ``img``, the ``seg_fields``.  Added or updated: ``img_shape``,
    ``scale_factor`` ((w, h) factors from the frames as read), ``keep_ratio``.
    """

    def __init__(self, scale: Union[int, Sequence[int]], keep_ratio: bool = True):
        self.scale = positive_pair(scale, 'scale', '(w, h)')
        if self.scale is None:
            raise ValueError('ClipResize needs a scale')
        self.keep_ratio = bool(keep_ratio)

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__)
        size = _target_size(clip.shape[1:3], self.scale, self.keep_ratio)
        return _resize_clip(results, size, self.keep_ratio)

    def __repr__(self):
        return transform_repr(self, 'scale', 'keep_ratio')


@TRANSFORMS.register_module()
class ClipRandomResize(BaseTransform):
    """:class:`ClipResize` to ``scale`` times one random ratio per clip.

    Args:
        scale (int | tuple[int, int]): base (w, h).
        ratio_range (tuple[float, float]): the ratio is drawn uniformly from it, once per clip.
        keep_ratio (bool): as :class:`ClipResize`. Defaults to True.
    """

    def __init__(self, scale: Union[int, Sequence[int]],
                 ratio_range: Sequence[float] = (0.5, 2.0), keep_ratio: bool = True):
        self.scale = positive_pair(scale, 'scale', '(w, h)')
        if self.scale is None:
            raise ValueError('ClipRandomResize needs a scale')
        low, high = (float(v) for v in ratio_range)
        if not 0 < low <= high:
            raise ValueError(f'ClipRandomResize: ratio_range must be (low, high) with 0 < low '
                             f'<= high, got {ratio_range!r}')
        self.ratio_range = (low, high)
        self.keep_ratio = bool(keep_ratio)

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__)
        ratio = np.random.uniform(*self.ratio_range)
        scale = (max(1, int(self.scale[0] * ratio + 0.5)), max(1, int(self.scale[1] * ratio + 0.5)))
        size = _target_size(clip.shape[1:3], scale, self.keep_ratio)
        return _resize_clip(results, size, self.keep_ratio)

    def __repr__(self):
        return transform_repr(self, 'scale', 'ratio_range', 'keep_ratio')


@TRANSFORMS.register_module()
class ClipRandomCrop(BaseTransform):
    """Cut the same random box out of every frame and mask of a clip (MMSeg's ``RandomCrop``).

    Frames smaller than the crop keep their size along that axis.  With ``cat_max_ratio < 1``
    a box is redrawn (at most 10 times, as MMSeg) until no single class covers more than that
    share of the labelled pixels of ``gt_seg_map`` inside the box, counted over all frames.

    Args:
        crop_size (int | tuple[int, int]): (h, w) of the box, as MMSeg's ``RandomCrop``.
        cat_max_ratio (float): the largest share of one class. Defaults to 1.0 (no check).
        ignore_index (int): label left out of that count. Defaults to 255.

    Modified keys: ``img``, the ``seg_fields``, ``img_shape``.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]], cat_max_ratio: float = 1.0,
                 ignore_index: int = IGNORE):
        self.crop_size = positive_pair(crop_size, 'crop_size', '(h, w)')
        if self.crop_size is None:
            raise ValueError('ClipRandomCrop needs a crop_size')
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f'ClipRandomCrop: cat_max_ratio must be in (0, 1], '
                             f'got {cat_max_ratio!r}')
        self.cat_max_ratio = float(cat_max_ratio)
        self.ignore_index = ignore_index

    def _box(self, hw) -> Tuple[int, int, int, int]:
        (h, w), (ch, cw) = hw, self.crop_size
        y0 = np.random.randint(0, max(h - ch, 0) + 1)
        x0 = np.random.randint(0, max(w - cw, 0) + 1)
        return y0, min(y0 + ch, h), x0, min(x0 + cw, w)

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__)
        box = self._box(clip.shape[1:3])
        gt = results.get('gt_seg_map', None)
        if self.cat_max_ratio < 1.0 and gt is not None:
            for _ in range(10):
                y0, y1, x0, x1 = box
                labels, counts = np.unique(gt[:, y0:y1, x0:x1], return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                    break
                box = self._box(clip.shape[1:3])
        y0, y1, x0, x1 = box
        results['img'] = np.ascontiguousarray(clip[:, y0:y1, x0:x1])
        for key in _seg_keys(results):
            results[key] = np.ascontiguousarray(results[key][:, y0:y1, x0:x1])
        results['img_shape'] = (y1 - y0, x1 - x0)
        return results

    def __repr__(self):
        return transform_repr(self, 'crop_size', 'cat_max_ratio', 'ignore_index')


@TRANSFORMS.register_module()
class ClipRandomFlip(BaseTransform):
    """Flip every frame and mask of a clip, or none: one decision per clip.

    Args:
        prob (float): probability of flipping. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'``. Defaults to ``'horizontal'``.

    Modified keys: ``img``, the ``seg_fields``.  Added: ``flip`` (bool), ``flip_direction``
    (the direction, or None when not flipped).
    """

    AXES = dict(horizontal=2, vertical=1)

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal'):
        if not 0 <= prob <= 1:
            raise ValueError(f'ClipRandomFlip: prob must be in [0, 1], got {prob!r}')
        if direction not in self.AXES:
            raise ValueError(f'ClipRandomFlip: direction must be one of {tuple(self.AXES)}, '
                             f'got {direction!r}')
        self.prob = float(prob)
        self.direction = direction

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__)
        flip = bool(np.random.rand() < self.prob)
        if flip:
            axis = self.AXES[self.direction]
            results['img'] = np.ascontiguousarray(np.flip(clip, axis=axis))
            for key in _seg_keys(results):
                results[key] = np.ascontiguousarray(np.flip(results[key], axis=axis))
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        return results

    def __repr__(self):
        return transform_repr(self, 'prob', 'direction')


@TRANSFORMS.register_module()
class PackClipSegInputs(BaseTransform):
    """Pack a clip and its masks for a segmentor, like MMSeg's ``PackSegInputs``.

    ``inputs``: uint8 tensor [3, T, H, W] (channels, then time), so a batch is ``[N, C, T, H,
    W]``.  ``data_samples``: one :class:`mmseg.structures.SegDataSample` per clip, with
    ``gt_sem_seg = PixelData(data=int64 tensor [T, H, W])`` when ``gt_seg_map`` is present,
    and the ``meta_keys`` present in the results as its metainfo (``pad_shape`` defaults to
    the clip's size, ``clip_len`` to its length).
    """

    def __init__(self, meta_keys: Sequence[str] = (
            'img_paths', 'seg_map_paths', 'video', 'frame_ids', 'clip_len', 'ori_shape',
            'img_shape', 'pad_shape', 'scale_factor', 'flip', 'flip_direction',
            'reduce_zero_label')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        clip = clip_frames(results, type(self).__name__)
        inputs = clip_tensor(clip)
        data_sample = SegDataSample()
        if 'gt_seg_map' in results:
            gt = np.asarray(results['gt_seg_map'])
            ori = tuple(int(v) for v in results.get('ori_shape', clip.shape[1:3])[:2])
            if gt.shape != clip.shape[:3] and gt.shape != (clip.shape[0], ) + ori:
                raise ValueError(f'PackClipSegInputs: gt_seg_map {gt.shape} matches neither '
                                 f'the clip [T, H, W] {clip.shape[:3]} nor the frames\' '
                                 f'original size [T, *ori_shape] {(clip.shape[0], ) + ori}')
            data_sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(np.ascontiguousarray(gt).astype(np.int64)))
        results.setdefault('clip_len', clip.shape[0])
        results.setdefault('img_shape', clip.shape[1:3])
        results.setdefault('pad_shape', tuple(results['img_shape']))
        data_sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self):
        return transform_repr(self, 'meta_keys')


__all__ = ['LoadClipFrames', 'LoadClipSegMaps', 'ClipResize', 'ClipRandomResize',
           'ClipRandomCrop', 'ClipRandomFlip', 'PackClipSegInputs']
