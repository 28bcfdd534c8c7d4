"""Event-stream transforms for data pipelines (numpy only; no task codebase).

Registered in mmspike's root ``TRANSFORMS``, so MMAction2 pipelines (``default_scope='mmaction'``)
find them by name, as :class:`~mmspike.datasets.ShuffleFrames`.  A typical pipeline::

    LoadEvents -> [EventRandomTemporalCrop] -> [EventResize | EventRandomCrop | EventCenterCrop]
    -> [EventFlip] -> IntegrateEvents -> [ClipEventCounts] -> [ShuffleFrames] -> FormatEventShape
    -> PackActionInputs

Keys: :class:`LoadEvents` reads ``results['filename']`` (an event file,
:mod:`mmspike.datasets.events`) into ``results['events']`` (dict of ``t``, ``x``, ``y``, ``p``)
and ``results['sensor_size']`` ``(H, W)``.  The temporal and spatial transforms act on the
*events*, before integration: a crop keeps the events inside the window and shifts their
coordinates, a resize maps coordinates (``x' = x * W' // W``: each output pixel counts the
events of the input pixels it covers, i.e. sum pooling when shrinking; enlarging leaves the
events on one pixel of each block), a flip mirrors ``x`` (or ``y``).  None of them touches the
polarity ``p``, so channel 0 of the frames always counts OFF events and channel 1 ON events.
:class:`IntegrateEvents` turns the events into ``results['imgs']``, float32 ``[T, 2, H, W]``
(:func:`~mmspike.datasets.events.integrate_events`); :class:`ClipEventCounts` may cap the counts
(``max_count=1``: binary spike frames); :class:`ShuffleFrames` may then permute the ``T`` axis
(the frame-order control); :class:`FormatEventShape` gives ``(1, 2, T, H, W)``, so MMAction2's
``PackActionInputs`` yields inputs ``[1, 2, T, H, W]`` and a batch ``(N, 2, T, H, W)`` for the
recognizer (``ActionDataPreprocessor`` with ``format_shape='NCTHW'`` and no mean/std).

Random transforms draw from numpy's global generator, as MMAction2's do (mmengine seeds it per
process and dataloader worker from ``randomness.seed``).

Event drop / denoise: spikingjelly has no event-level drop or denoise (its
``RandomTemporalDelete`` deletes integrated frames), and tonic, which has them, is not a
dependency, so none is provided.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from ...layers.temporal import positive_pair
from ...registry import TRANSFORMS
from ..events import EVENT_KEYS, SPLIT_MODES, integrate_events, load_events, slice_events
from .clip_transforms import transform_repr

__all__ = ['LoadEvents', 'EventRandomTemporalCrop', 'EventResize', 'EventRandomCrop',
           'EventCenterCrop', 'EventFlip', 'IntegrateEvents', 'ClipEventCounts', 'FormatEventShape']


def _events_and_size(results: dict, owner) -> Tuple[dict, Tuple[int, int]]:
    if 'events' not in results or 'sensor_size' not in results:
        raise KeyError(f'{type(owner).__name__} needs "events" and "sensor_size": put it after '
                       f'LoadEvents and before IntegrateEvents')
    height, width = (int(v) for v in results['sensor_size'])
    return results['events'], (height, width)


def _required_size(size, owner) -> Tuple[int, int]:
    """``(w, h)`` of a transform's ``size`` argument (one int for a square); None is an
    error."""
    name = type(owner).__name__
    pair = positive_pair(size, f'{name} size', '(w, h)')
    if pair is None:
        raise ValueError(f'{name}: size must be given, got None')
    return pair


def _select(events: dict, keep: np.ndarray) -> dict:
    return {key: events[key][keep] for key in EVENT_KEYS}


def _crop(results: dict, x0: int, y0: int, w: int, h: int) -> dict:
    events = results['events']
    x, y = events['x'].astype(np.int64), events['y'].astype(np.int64)
    keep = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
    cropped = _select(events, keep)
    cropped['x'] = (x[keep] - x0).astype(events['x'].dtype)
    cropped['y'] = (y[keep] - y0).astype(events['y'].dtype)
    results['events'] = cropped
    results['sensor_size'] = (h, w)
    results['img_shape'] = (h, w)
    results['crop_bbox'] = np.array([x0, y0, x0 + w, y0 + h])
    return results


@TRANSFORMS.register_module()
class LoadEvents(BaseTransform):
    """Read the event file ``results['filename']`` (``.npz`` or ``.aedat``,
    :func:`~mmspike.datasets.events.load_events`).

    Added keys: ``events`` (dict of ``t`` int64 us, ``x``/``y`` uint16, ``p`` uint8),
    ``sensor_size``, ``ori_shape`` and ``img_shape`` (all ``(H, W)``), ``num_events``.

    Args:
        allow_empty (bool): accept files without events. Defaults to False (an error naming
            the file).
        aedat_sensor_size (Sequence[int]): ``(H, W)`` of ``.aedat`` files. Defaults to
            ``(128, 128)``.
    """

    def __init__(self, allow_empty: bool = False,
                 aedat_sensor_size: Sequence[int] = (128, 128)):
        self.allow_empty = allow_empty
        self.aedat_sensor_size = tuple(aedat_sensor_size)

    def transform(self, results: dict) -> dict:
        if 'filename' not in results:
            raise KeyError('LoadEvents needs "filename" (the event file of the sample)')
        data = load_events(results['filename'], allow_empty=self.allow_empty,
                           aedat_sensor_size=self.aedat_sensor_size)
        size = (data['height'], data['width'])
        results['events'] = {key: data[key] for key in EVENT_KEYS}
        results['sensor_size'] = size
        results['ori_shape'] = size
        results['img_shape'] = size
        results['num_events'] = int(data['t'].size)
        return results

    def __repr__(self):
        return transform_repr(self, 'allow_empty', 'aedat_sensor_size')


@TRANSFORMS.register_module()
class EventRandomTemporalCrop(BaseTransform):
    """Keep the events of a random time window ``[s, s + d)`` (training augmentation).

    The window length ``d`` is ``ratio`` times the stream's span ``t[-1] - t[0]`` or a fixed
    ``duration``; its start ``s`` is uniform over the positions that keep it inside the
    stream.  A window as long as the stream keeps every event.

    Args:
        ratio (float, optional): window length as a fraction of the span, in (0, 1].
            Defaults to None.
        duration (int, optional): window length in microseconds (> 0). Defaults to None.
            Give exactly one of ``ratio`` and ``duration``.
    """

    def __init__(self, ratio: Optional[float] = None, duration: Optional[int] = None):
        if (ratio is None) == (duration is None):
            raise ValueError(f'EventRandomTemporalCrop: give exactly one of ratio and duration, '
                             f'got ratio={ratio}, duration={duration}')
        if ratio is not None and not 0 < ratio <= 1:
            raise ValueError(f'EventRandomTemporalCrop: ratio must be in (0, 1], got {ratio}')
        if duration is not None and not duration > 0:
            raise ValueError(f'EventRandomTemporalCrop: duration must be > 0 us, got '
                             f'{duration}')
        self.ratio = ratio
        self.duration = duration

    def transform(self, results: dict) -> dict:
        events, _ = _events_and_size(results, self)
        t = events['t']
        if t.size == 0:
            return results
        span = int(t[-1]) - int(t[0])
        length = (int(np.ceil(self.ratio * span)) if self.ratio is not None
                  else int(self.duration))
        if length > span:  # the window [s, s + length) covers every event
            return results
        start = int(t[0]) + int(np.random.randint(0, span - length + 1))
        results['events'] = slice_events(events, start, start + length)
        results['event_window'] = (start, start + length)
        return results

    def __repr__(self):
        return transform_repr(self, 'ratio', 'duration')


@TRANSFORMS.register_module()
class EventResize(BaseTransform):
    """Map the event coordinates to a ``size`` sensor: ``x' = x * W' // W``,
    ``y' = y * H' // H`` (counts are summed over the input pixels an output pixel covers).

    Args:
        size (int | tuple[int, int]): output ``(w, h)``, or one int for a square.
    """

    def __init__(self, size: Union[int, Sequence[int]]):
        self.size = _required_size(size, self)

    def transform(self, results: dict) -> dict:
        events, (height, width) = _events_and_size(results, self)
        new_w, new_h = self.size
        resized = dict(events)
        resized['x'] = (events['x'].astype(np.int64) * new_w // width).astype(np.uint16)
        resized['y'] = (events['y'].astype(np.int64) * new_h // height).astype(np.uint16)
        results['events'] = resized
        results['sensor_size'] = (new_h, new_w)
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = np.array([new_w / width, new_h / height], np.float32)
        return results

    def __repr__(self):
        return transform_repr(self, 'size')


class _EventCrop(BaseTransform):
    """Keep the events inside a ``size`` window of the sensor and shift them to its corner;
    subclasses choose the window's corner (:meth:`_origin`).

    Args:
        size (int | tuple[int, int]): window ``(w, h)``, or one int for a square; at most the
            sensor size.
    """

    def __init__(self, size: Union[int, Sequence[int]]):
        self.size = _required_size(size, self)

    def _origin(self, width: int, height: int, w: int, h: int) -> Tuple[int, int]:
        raise NotImplementedError

    def transform(self, results: dict) -> dict:
        _, (height, width) = _events_and_size(results, self)
        w, h = self.size
        if w > width or h > height:
            raise ValueError(f'{type(self).__name__}: crop (w, h)={self.size} is larger than '
                             f'the sensor (w, h)={(width, height)}')
        return _crop(results, *self._origin(width, height, w, h), w, h)

    def __repr__(self):
        return transform_repr(self, 'size')


@TRANSFORMS.register_module()
class EventRandomCrop(_EventCrop):
    """Keep the events inside a random ``size`` window (uniform over the positions inside the
    sensor) and shift them to its corner.

    Args:
        size (int | tuple[int, int]): window ``(w, h)``, or one int for a square; at most the
            sensor size.
    """

    def _origin(self, width, height, w, h):
        return (int(np.random.randint(0, width - w + 1)),
                int(np.random.randint(0, height - h + 1)))


@TRANSFORMS.register_module()
class EventCenterCrop(_EventCrop):
    """Keep the events inside the central ``size`` window and shift them to its corner.

    Args:
        size (int | tuple[int, int]): window ``(w, h)``, or one int for a square; at most the
            sensor size.
    """

    def _origin(self, width, height, w, h):
        return (width - w) // 2, (height - h) // 2


@TRANSFORMS.register_module()
class EventFlip(BaseTransform):
    """Mirror the events with probability ``flip_ratio``: ``x -> W - 1 - x`` (horizontal) or
    ``y -> H - 1 - y`` (vertical); polarities stay as they are.

    Beware of datasets whose classes are mirror images of each other (DVS128 Gesture: left-
    and right-hand gestures): a horizontal flip changes their label.

    Args:
        flip_ratio (float): probability of flipping. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'``. Defaults to ``'horizontal'``.
    """

    def __init__(self, flip_ratio: float = 0.5, direction: str = 'horizontal'):
        if not 0 <= flip_ratio <= 1:
            raise ValueError(f'EventFlip: flip_ratio must be in [0, 1], got {flip_ratio}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'EventFlip: direction must be "horizontal" or "vertical", got '
                             f'{direction!r}')
        self.flip_ratio = flip_ratio
        self.direction = direction

    def transform(self, results: dict) -> dict:
        events, (height, width) = _events_and_size(results, self)
        flip = bool(np.random.rand() < self.flip_ratio)
        if flip:
            key, extent = ('x', width) if self.direction == 'horizontal' else ('y', height)
            flipped = dict(events)
            flipped[key] = (extent - 1 - events[key].astype(np.int64)).astype(events[key].dtype)
            results['events'] = flipped
        results['flip'] = flip
        results['flip_direction'] = self.direction
        return results

    def __repr__(self):
        return transform_repr(self, 'flip_ratio', 'direction')


@TRANSFORMS.register_module()
class IntegrateEvents(BaseTransform):
    """Integrate ``results['events']`` into ``results['imgs']``, float32 ``[T, 2, H, W]`` event
    counts (channel 0: polarity 0, channel 1: polarity 1; see
    :func:`~mmspike.datasets.events.integrate_events`).

    Removes ``events``; adds ``imgs``, ``img_shape`` ``(H, W)``, ``clip_len`` (``T``, the axis
    :class:`~mmspike.datasets.ShuffleFrames` permutes) and ``num_clips`` (1).

    Args:
        num_frames (int): ``T``. Defaults to 16.
        split_by (str): ``'number'`` (equal event counts per frame) or ``'time'`` (equal
            durations). Defaults to ``'number'``.
    """

    def __init__(self, num_frames: int = 16, split_by: str = 'number'):
        if split_by not in SPLIT_MODES:
            raise ValueError(f'IntegrateEvents: split_by must be one of {SPLIT_MODES}, got '
                             f'{split_by!r}')
        if int(num_frames) < 1:
            raise ValueError(f'IntegrateEvents: num_frames must be >= 1, got {num_frames}')
        self.num_frames = int(num_frames)
        self.split_by = split_by

    def transform(self, results: dict) -> dict:
        events, (height, width) = _events_and_size(results, self)
        results['imgs'] = integrate_events(events, self.num_frames, self.split_by, height,
                                           width)
        del results['events']
        results['img_shape'] = (height, width)
        results['clip_len'] = self.num_frames
        results['num_clips'] = 1
        return results

    def __repr__(self):
        return transform_repr(self, 'num_frames', 'split_by')


@TRANSFORMS.register_module()
class ClipEventCounts(BaseTransform):
    """``imgs = min(imgs, max_count)`` (float32), after :class:`IntegrateEvents`.

    With ``max_count=1`` the frames are binary spike maps: a pixel and polarity fired in the
    slice or did not.  Event counts vary over orders of magnitude between clips (a slow,
    low-contrast object against a fast textured one); binary frames have the same scale in every
    clip, so a first BatchNorm's running statistics fit all of them.

    Args:
        max_count (float): the cap, > 0. Defaults to 1.0 (binary frames).
    """

    def __init__(self, max_count: float = 1.0):
        if not max_count > 0:
            raise ValueError(f'ClipEventCounts: max_count must be > 0, got {max_count}')
        self.max_count = float(max_count)

    def transform(self, results: dict) -> dict:
        if 'imgs' not in results:
            raise KeyError('ClipEventCounts needs results["imgs"]: put it after IntegrateEvents')
        imgs = results['imgs']
        if isinstance(imgs, (list, tuple)):
            imgs = np.stack(imgs)
        results['imgs'] = np.minimum(np.asarray(imgs, np.float32), self.max_count)
        return results

    def __repr__(self):
        return transform_repr(self, 'max_count')


@TRANSFORMS.register_module()
class FormatEventShape(BaseTransform):
    """``results['imgs']`` (``[T, 2, H, W]``, an array or a list of ``[2, H, W]`` frames as
    :class:`~mmspike.datasets.ShuffleFrames` leaves it) -> float32 ``(1, 2, T, H, W)``
    (MMAction2's ``NCTHW`` with one clip); adds ``input_shape``."""

    def transform(self, results: dict) -> dict:
        if 'imgs' not in results:
            raise KeyError('FormatEventShape needs "imgs": put it after IntegrateEvents')
        imgs = results['imgs']
        imgs = np.stack(imgs) if isinstance(imgs, (list, tuple)) else np.asarray(imgs)
        if imgs.ndim != 4 or imgs.shape[1] != 2:
            raise ValueError(f'FormatEventShape expects [T, 2, H, W] frames, got shape '
                             f'{imgs.shape}')
        clip = np.ascontiguousarray(imgs.transpose(1, 0, 2, 3)[None], dtype=np.float32)
        results['imgs'] = clip
        results['input_shape'] = clip.shape
        return results

    def __repr__(self):
        return transform_repr(self)
