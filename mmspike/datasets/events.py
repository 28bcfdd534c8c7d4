"""Event-camera streams: file I/O and integration into frames (numpy; no task codebase).

Event file format (``.npz``, written by :func:`save_events`, read by :func:`load_events`):

* ``t``: int64 timestamps in microseconds, non-decreasing;
* ``x``, ``y``: integer pixel coordinates (stored as uint16), ``0 <= x < width``,
  ``0 <= y < height``;
* ``p``: uint8 polarity, 0 (OFF, brightness decrease) or 1 (ON, increase);
* ``height``, ``width``: 0-d int arrays, the sensor size.

``t``, ``x``, ``y`` and ``p`` are 1-D and of equal length.  :func:`load_events` returns
``dict(t=..., x=..., y=..., p=..., height=int, width=int)`` with these dtypes; it also reads
AEDAT 3.1 recordings (``.aedat``, e.g. DVS128 Gesture) through spikingjelly, whose files carry
no sensor size (``aedat_sensor_size``, 128 x 128 by default).  A missing, truncated or corrupt
file, an empty stream (zero events: an error for training data, unless ``allow_empty``),
coordinates outside the sensor or decreasing timestamps raise :class:`EventFileError` (a
``ValueError``) naming the file; a missing file raises ``FileNotFoundError``.

Frames: :func:`integrate_events` turns a stream into float32 ``[T, 2, H, W]`` event counts,
channel 0 counting polarity-0 events and channel 1 polarity-1 events, split into ``T`` slices
of equal event count (``'number'``) or equal duration (``'time'``), as spikingjelly's
``integrate_events_by_fixed_frames_number``.

Why spikingjelly: it is already a dependency of mmspike (the neurons are checked against it),
its ``load_aedat_v3`` reads the DVS128 Gesture recordings and its integration is the one of its
own DVS128 Gesture example (96.2% test top-1 at T = 16), so integrated frames here equal that
reference.  tonic (``pip download tonic`` finds tonic 1.7.0 on PyPI) would be a new dependency
for the same functions.  The AEDAT checks of :func:`check_aedat_file` walk the packet headers
only (to report a truncated or corrupt file by name); the events are decoded by spikingjelly.
"""
import os.path as osp
import struct
import zipfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = ['EventFileError', 'save_events', 'load_events', 'check_events', 'check_aedat_file',
           'integrate_events', 'slice_events', 'EVENT_KEYS']

EVENT_KEYS = ('t', 'x', 'y', 'p')
EVENT_DTYPES = dict(t=np.int64, x=np.uint16, y=np.uint16, p=np.uint8)
AEDAT3_MAGIC = b'#!AER-DAT3'
AEDAT_END_HEADER = b'#!END-HEADER\r\n'
AEDAT_PACKET_HEADER = 28
AEDAT_POLARITY_EVENT = 1
AEDAT_POLARITY_SIZE = 8
SPLIT_MODES = ('number', 'time')


class EventFileError(ValueError):
    """A corrupt, truncated, empty or inconsistent event file (the message names it)."""


def check_events(events: Dict[str, np.ndarray], height: int, width: int, name: str = 'events',
                 allow_empty: bool = False) -> None:
    """Raise :class:`EventFileError` unless ``events`` is a valid stream for a
    ``height`` x ``width`` sensor.

    Args:
        events (dict): arrays ``t``, ``x``, ``y``, ``p``.
        height (int): sensor height.
        width (int): sensor width.
        name (str): what to name in the messages (a file path). Defaults to ``'events'``.
        allow_empty (bool): accept zero events. Defaults to False.
    """
    missing = [key for key in EVENT_KEYS if key not in events]
    if missing:
        raise EventFileError(f'{name}: missing event arrays {missing} (expected {EVENT_KEYS})')
    if int(height) < 1 or int(width) < 1:
        raise EventFileError(f'{name}: sensor size must be positive, got height={height}, '
                             f'width={width}')
    arrays = {key: np.asarray(events[key]) for key in EVENT_KEYS}
    lengths = {key: a.shape for key, a in arrays.items()}
    if any(a.ndim != 1 for a in arrays.values()) or len(set(lengths.values())) != 1:
        raise EventFileError(f'{name}: t, x, y, p must be 1-D arrays of one length, got shapes '
                             f'{lengths}')
    for key, a in arrays.items():
        if a.size and not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
            raise EventFileError(f'{name}: {key} must be integers, got dtype {a.dtype}')
    t, x, y, p = (arrays[key] for key in EVENT_KEYS)
    if t.size == 0:
        if allow_empty:
            return
        raise EventFileError(f'{name}: the stream has no events (expected at least 1)')
    for key, a, limit in (('x', x, width), ('y', y, height)):
        low, high = int(a.min()), int(a.max())
        if low < 0 or high >= limit:
            raise EventFileError(f'{name}: {key} must lie in [0, {limit - 1}] for a '
                                 f'{height} x {width} sensor, got [{low}, {high}]')
    bad_p = np.setdiff1d(np.unique(p), [0, 1])
    if bad_p.size:
        raise EventFileError(f'{name}: polarity p must be 0 or 1, got values {bad_p[:5]}')
    steps = np.diff(t.astype(np.int64))
    if steps.size and steps.min() < 0:
        i = int(np.argmin(steps))
        raise EventFileError(f'{name}: timestamps t must be non-decreasing, got t[{i}]={t[i]} '
                             f'> t[{i + 1}]={t[i + 1]}')


def _as_event_arrays(t, x, y, p) -> Dict[str, np.ndarray]:
    return {key: np.ascontiguousarray(np.asarray(value).astype(EVENT_DTYPES[key], copy=False))
            for key, value in zip(EVENT_KEYS, (t, x, y, p))}


def save_events(path: str, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray,
                height: int, width: int, compress: bool = True,
                allow_empty: bool = False) -> str:
    """Write an event stream to ``path`` (``.npz``, the format of this module) atomically.

    The arrays are checked first (:func:`check_events`); a killed writer leaves no partial
    file under ``path``.

    Args:
        path (str): output file; ``.npz`` is appended by numpy if missing, so name it ``.npz``.
        t (np.ndarray): timestamps in microseconds, non-decreasing.
        x (np.ndarray): column of each event, ``0 <= x < width``.
        y (np.ndarray): row of each event, ``0 <= y < height``.
        p (np.ndarray): polarity of each event, 0 or 1.
        height (int): sensor height.
        width (int): sensor width.
        compress (bool): ``np.savez_compressed`` (smaller, slower to read). Defaults to True.
        allow_empty (bool): accept zero events. Defaults to False.

    Returns:
        str: the path written.
    """
    if not str(path).endswith('.npz'):
        raise ValueError(f'save_events: the file name must end with .npz, got {path!r}')
    raw = dict(zip(EVENT_KEYS, (t, x, y, p)))
    check_events(raw, height, width, name=str(path), allow_empty=allow_empty)
    arrays = _as_event_arrays(t, x, y, p)
    save = np.savez_compressed if compress else np.savez
    from ..engine.checkpoint import atomic_write
    atomic_write(str(path), lambda f: save(f, height=np.asarray(int(height), np.int64),
                                           width=np.asarray(int(width), np.int64), **arrays))
    return str(path)


def _load_npz(path: str) -> Tuple[Dict[str, np.ndarray], int, int]:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            missing = [key for key in EVENT_KEYS + ('height', 'width') if key not in keys]
            if missing:
                raise EventFileError(f'{path}: not an event file: missing arrays {missing} '
                                     f'(found {sorted(keys)}; expected t, x, y, p, height, '
                                     f'width)')
            arrays = {key: data[key] for key in EVENT_KEYS}
            size = [data[key] for key in ('height', 'width')]
    except EventFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, struct.error) as exc:
        raise EventFileError(f'{path}: corrupt or truncated event file '
                             f'({type(exc).__name__}: {exc})') from exc
    for key, value in zip(('height', 'width'), size):
        if value.shape != () or not np.issubdtype(value.dtype, np.integer):
            raise EventFileError(f'{path}: {key} must be a 0-d integer array, got shape '
                                 f'{value.shape} dtype {value.dtype}')
    return arrays, int(size[0]), int(size[1])


def check_aedat_file(path: str) -> int:
    """Walk the packet headers of an AEDAT 3.x file and return its number of polarity events.

    Checks the text header (``#!AER-DAT3...`` up to ``#!END-HEADER\\r\\n``) and that every
    packet (28-byte header: eventType, eventSource, eventSize, eventTSOffset, eventTSOverflow,
    eventCapacity, eventNumber, eventValid) is complete and that polarity packets have 8-byte
    events.  Raises :class:`EventFileError` naming ``path`` otherwise.  The events themselves
    are decoded by spikingjelly (:func:`load_events`).

    Args:
        path (str): the ``.aedat`` file.

    Returns:
        int: the number of polarity events the packets hold (``eventCapacity``, as spikingjelly
        reads them).
    """
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        first = f.readline()
        if not first.startswith(AEDAT3_MAGIC):
            raise EventFileError(f'{path}: not an AEDAT 3 file: the first line should start '
                                 f'with {AEDAT3_MAGIC!r}, got {first[:20]!r}')
        line = first
        while line != AEDAT_END_HEADER:
            line = f.readline()
            if not line.startswith(b'#'):
                raise EventFileError(f'{path}: corrupt or truncated AEDAT header: no '
                                     f'{AEDAT_END_HEADER!r} line before the data')
        count, packet = 0, 0
        while True:
            offset = f.tell()
            header = f.read(AEDAT_PACKET_HEADER)
            if not header:
                break
            if len(header) < AEDAT_PACKET_HEADER:
                raise EventFileError(f'{path}: truncated: packet {packet} at byte {offset} has '
                                     f'a {len(header)}-byte header (expected '
                                     f'{AEDAT_PACKET_HEADER})')
            e_type, _, e_size, _, _, e_capacity, _, _ = struct.unpack('<HHIIIIII', header)
            if e_type == AEDAT_POLARITY_EVENT and e_size != AEDAT_POLARITY_SIZE:
                raise EventFileError(f'{path}: corrupt: polarity packet {packet} at byte '
                                     f'{offset} has eventSize {e_size} (expected '
                                     f'{AEDAT_POLARITY_SIZE})')
            end = offset + AEDAT_PACKET_HEADER + e_capacity * e_size
            if end > size:
                raise EventFileError(f'{path}: truncated: packet {packet} at byte {offset} '
                                     f'needs {e_capacity} x {e_size} bytes of events but the '
                                     f'file ends at byte {size}')
            if e_type == AEDAT_POLARITY_EVENT:
                count += e_capacity
            f.seek(end)
            packet += 1
    return count


def _load_aedat(path: str) -> Dict[str, np.ndarray]:
    check_aedat_file(path)
    from spikingjelly.datasets.utils import load_aedat_v3
    events = load_aedat_v3(path)
    return {key: np.asarray(events[key]) for key in EVENT_KEYS}


def load_events(path: str, allow_empty: bool = False,
                aedat_sensor_size: Sequence[int] = (128, 128)) -> dict:
    """Read an event file: ``.npz`` (this module's format) or ``.aedat`` (AEDAT 3.1).

    Args:
        path (str): the file.
        allow_empty (bool): accept a stream without events. Defaults to False.
        aedat_sensor_size (Sequence[int]): ``(height, width)`` of ``.aedat`` recordings, which
            do not store it. Defaults to ``(128, 128)`` (DVS128).

    Returns:
        dict: ``t`` (int64), ``x``, ``y`` (uint16), ``p`` (uint8), ``height``, ``width`` (int).
    """
    path = str(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'event file {path!r} does not exist')
    if osp.getsize(path) == 0:
        raise EventFileError(f'{path}: empty file (0 bytes)')
    if path.lower().endswith('.aedat'):
        arrays = _load_aedat(path)
        height, width = (int(v) for v in aedat_sensor_size)
    elif path.lower().endswith('.npz'):
        arrays, height, width = _load_npz(path)
    else:
        raise EventFileError(f'{path}: unknown event file type (expected .npz or .aedat)')
    check_events(arrays, height, width, name=path, allow_empty=allow_empty)
    events = _as_event_arrays(*(arrays[key] for key in EVENT_KEYS))
    events.update(height=height, width=width)
    return events


def slice_events(events: Dict[str, np.ndarray], start: Optional[int] = None,
                 end: Optional[int] = None) -> Dict[str, np.ndarray]:
    """The events with ``start <= t < end`` (the rule by which spikingjelly cuts DVS128
    Gesture recordings with their label csv); other keys are copied.

    Args:
        events (dict): a stream (``t`` non-decreasing).
        start (int, optional): first timestamp kept. Defaults to None (from the start).
        end (int, optional): first timestamp dropped. Defaults to None (to the end).
    """
    t = events['t']
    lo = 0 if start is None else int(np.searchsorted(t, start, side='left'))
    hi = t.size if end is None else int(np.searchsorted(t, end, side='left'))
    out = dict(events)
    out.update({key: events[key][lo:max(lo, hi)] for key in EVENT_KEYS})
    return out


def _time_split_indices(t: np.ndarray, num_frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """spikingjelly's ``'time'`` slices (``dt = (t[-1] - t[0]) // T``; slice ``i`` holds
    ``t0 + i dt <= t < t0 + (i + 1) dt``, the last slice everything from its start), through
    ``searchsorted``: equal to ``cal_fixed_frames_number_segment_index`` where every slice
    holds events, and empty frames (not an IndexError) where one holds none."""
    t0 = int(t[0])
    dt = (int(t[-1]) - t0) // num_frames
    edges = t0 + dt * np.arange(num_frames + 1, dtype=np.int64)
    bounds = np.searchsorted(t, edges, side='left')
    j_l, j_r = bounds[:-1].copy(), bounds[1:].copy()
    j_r[-1] = t.size
    return j_l, j_r


def integrate_events(events: Dict[str, np.ndarray], num_frames: int, split_by: str = 'number',
                     height: Optional[int] = None, width: Optional[int] = None) -> np.ndarray:
    """Integrate an event stream into ``num_frames`` two-channel count frames.

    ``'number'`` uses spikingjelly's ``integrate_events_by_fixed_frames_number`` (``N // T``
    events per frame, the remainder in the last); ``'time'`` cuts the same slices as its
    ``'time'`` mode (see :func:`_time_split_indices`) and counts each with its
    ``integrate_events_segment_to_frame``.  An empty stream gives zero frames.

    Args:
        events (dict): ``t``, ``x``, ``y``, ``p`` (and ``height``, ``width`` unless given).
        num_frames (int): ``T``.
        split_by (str): ``'number'`` or ``'time'``. Defaults to ``'number'``.
        height (int, optional): frame height. Defaults to ``events['height']``.
        width (int, optional): frame width. Defaults to ``events['width']``.

    Returns:
        np.ndarray: float32 ``[T, 2, H, W]``; channel 0 counts polarity 0, channel 1 polarity 1.
    """
    if split_by not in SPLIT_MODES:
        raise ValueError(f'split_by must be one of {SPLIT_MODES}, got {split_by!r}')
    if int(num_frames) < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    num_frames = int(num_frames)
    height = int(events['height'] if height is None else height)
    width = int(events['width'] if width is None else width)
    if events['t'].size == 0:
        return np.zeros((num_frames, 2, height, width), np.float32)
    from spikingjelly.datasets import utils as sj_utils
    if split_by == 'number':
        frames = sj_utils.integrate_events_by_fixed_frames_number(
            {key: events[key] for key in EVENT_KEYS}, 'number', num_frames, height, width)
        return frames.astype(np.float32)
    j_l, j_r = _time_split_indices(events['t'], num_frames)
    frames = np.zeros((num_frames, 2, height, width), np.float32)
    for i in range(num_frames):
        frames[i] = sj_utils.integrate_events_segment_to_frame(
            events['x'], events['y'], events['p'], height, width, int(j_l[i]), int(j_r[i]))
    return frames
