"""Motion events: the embedded motion clips as an event camera would record them.

Each clip is the motion-clips clip of the same seed, split, class and index
(:mod:`mmspike.datasets.synthetic.motion_clips`: same object, background and motion; rendered
frames, not the MP4, so no compression noise), turned into events by the log-intensity change
model of :mod:`mmspike.datasets.synthetic.event_sim` (contrast threshold, refractory period,
threshold mismatch, background activity; seeded per clip).  The classes are those of the motion
clips, in pairs that are each other's time reversal; for events a reversal also swaps the
polarities, so a single event frame (an edge with ON on one side, OFF on the other) fits a
bright object moving one way as well as a dark object moving the other way, and the direction is
again in the order of the frames.

An object whose colours have about the luminance of the background (the motion clips choose
colours by RGB distance, not by luminance) barely changes the log intensity, so a monochrome
event camera sees little of it: at contrast threshold 0.2 about 5% of the clips have fewer than
100 events and about 1% none, at 0.1 about 1% fewer than 100 (measured on 320 training clips).
Such clips are kept, empty ones included (``LoadEvents(allow_empty=True)`` reads them as zero
frames).

One departure from the motion clips, for ``fade_in`` and ``fade_out`` only.  An event camera
cannot tell them apart as the motion clips draw them.  A pixel that fades linearly from ``I0``
to ``I1`` emits events whose polarity is the sign of ``I1 - I0`` and whose times depend only on
the ratio ``I1 / I0``; a static background emits nothing, so its level is unseen.  An object
brighter than the background fading in (ON events, most of them early) therefore gives the
same stream as one darker than the background fading out, and the motion clips draw both
equally often (colours are chosen by RGB distance from the background, above or below it).  A
model trained on that version confused the pair at chance level (test, 20 clips each:
fade_in 6 right / 14 as fade_out, fade_out 14 right / 6 as fade_in) while it scored 20/20 on
each translation class.  In this dataset the fading objects are therefore lit
(:func:`luminous_fade`): the background is dimmed to half and the object's colours are mapped
into [160, 255], so every object pixel is brighter than every background pixel.  Fading in then
gives ON events and fading out OFF events.  This also makes the pair separable without frame
order; the other six classes are the motion clips, clip for clip, and still need it.

``write_dataset`` stores one ``.npz`` per clip in the event format of
:mod:`mmspike.datasets.events` and annotation lists for ``EventClipDataset``.  It depends on numpy
and OpenCV only.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from . import motion_clips
from .event_sim import check_sensor_args, video_frames_to_events
from .staging import write_generated_dataset

GENERATOR_NAME = 'mmspike.motion_events'
GENERATOR_VERSION = 2  # 2: lit fading objects (luminous_fade)
CLASSES = motion_clips.CLASSES
SPLITS = motion_clips.SPLITS


def list_file_name(split: str) -> str:
    return f'motion_events_{split}_list.txt'


def event_relative_path(split: str, label: int, index: int) -> str:
    return motion_clips.clip_relative_path(split, label, index, 'npz')


# Lit fading objects: background scaled by this, object colours mapped into [LOW, 255].
_FADE_BACKGROUND_SCALE = 0.5
_FADE_OBJECT_LOW = 160.0
_FADE_CLASSES = ('fade_in', 'fade_out')


def luminous_fade(spec: motion_clips.ClipSpec) -> motion_clips.ClipSpec:
    """The clip with a dimmed background (``x 0.5``, so at most 127.5) and the object's colours
    mapped linearly from [0, 255] into [160, 255]: every object pixel is brighter than every
    background pixel in every channel, so a fade in gives only ON events and a fade out only OFF
    events (the module docstring says why the event version needs this)."""
    low = _FADE_OBJECT_LOW
    return dataclasses.replace(
        spec, background=(spec.background * _FADE_BACKGROUND_SCALE).astype(np.float32),
        sprite_rgb=(low + spec.sprite_rgb * ((255.0 - low) / 255.0)).astype(np.float32))


def clip_frames(seed: int, split: str, label: int, index: int, num_frames: int = 16,
                size: int = 64) -> np.ndarray:
    """The rendered frames the events are made from: the motion clip of the same seed, split,
    class and index, with :func:`luminous_fade` for the fade classes; uint8 ``(T, H, W, 3)``."""
    rng = motion_clips.clip_rng(seed, split, label, index)
    spec = motion_clips.sample_clip_spec(label, rng, num_frames, size)
    if CLASSES[label] in _FADE_CLASSES:
        spec = luminous_fade(spec)
    return motion_clips.render_frames(spec)


def clip_events(seed: int, split: str, label: int, index: int, num_frames: int = 16,
                size: int = 64, fps: float = 8, **sensor) -> dict:
    """The events of one dataset clip (``sensor``: the keyword arguments of
    :func:`mmspike.datasets.synthetic.event_sim.video_frames_to_events`)."""
    frames = clip_frames(seed, split, label, index, num_frames, size)
    # The sensor's own randomness (mismatch, noise) gets a child stream of the clip's key.
    key = (SPLITS.index(split), int(label), int(index))
    sensor_seed = int(np.random.SeedSequence(seed, spawn_key=key + (1,)).generate_state(1)[0])
    return video_frames_to_events(frames, fps=fps, seed=sensor_seed, **sensor)


def _write_split(staging: Path, split: str, meta: dict, sensor: dict) -> None:
    from ..events import save_events
    started = time.perf_counter()

    def write_clip(path, label, index):
        events = clip_events(meta['seed'], split, label, index, meta['num_frames'],
                             meta['size'], meta['fps'], **sensor)
        save_events(str(path), allow_empty=True, **events)
        return events['t'].size

    counts = np.asarray(motion_clips.write_split(
        staging, split, meta[f'{split}_per_class'], 'events', list_file_name,
        event_relative_path, write_clip))
    print(f'[motion_events] {split}: {len(counts)} clips, events per clip: median '
          f'{int(np.median(counts))}, {int((counts < 100).sum())} with fewer than 100, '
          f'{int((counts == 0).sum())} without any; {time.perf_counter() - started:.1f} s',
          flush=True)


def write_dataset(root, train_per_class: int = 40, val_per_class: int = 10,
                  test_per_class: int = 20, num_frames: int = 16, size: int = 64,
                  seed: int = 0, fps: float = 8, threshold: float = 0.2,
                  refractory_us: float = 0.0, threshold_sigma: float = 0.0,
                  noise_rate: float = 0.0) -> dict:
    """Write the event dataset under ``root`` (if not already there) and return its meta data.

    Layout::

        root/events/<class>/<class>_<split>_<index:04d>.npz
        root/motion_events_{train,val,test}_list.txt   lines "<class>/<file>.npz <label>"
        root/classes.txt, root/meta.json

    Args:
        root (str | Path): dataset directory.
        train_per_class (int): training clips per class. Defaults to 40.
        val_per_class (int): validation clips per class. Defaults to 10.
        test_per_class (int): test clips per class. Defaults to 20.
        num_frames (int): rendered frames per clip (events lie between them). Defaults to 16.
        size (int): sensor height and width. Defaults to 64.
        seed (int): dataset seed (the clips are the motion clips of this seed). Defaults to 0.
        fps (float): frame rate of the rendered frames. Defaults to 8.
        threshold (float): contrast threshold (log units). Defaults to 0.2.
        refractory_us (float): refractory period (microseconds). Defaults to 0.
        threshold_sigma (float): per-pixel threshold mismatch. Defaults to 0.
        noise_rate (float): background activity per pixel per second. Defaults to 0.

    An existing dataset with the same parameters is reused; one with other parameters is rebuilt
    in ``<root>.tmp-<pid>`` and swapped in only when complete.
    """
    per_class = {'train': train_per_class, 'val': val_per_class, 'test': test_per_class}
    motion_clips._validate_write_args(seed, per_class, num_frames, size, fps)
    check_sensor_args(threshold=threshold, refractory_us=refractory_us,
                      threshold_sigma=threshold_sigma, noise_rate=noise_rate)
    sensor = dict(threshold=float(threshold), refractory_us=float(refractory_us),
                  threshold_sigma=float(threshold_sigma), noise_rate=float(noise_rate))
    meta = {
        'generator': GENERATOR_NAME,
        'generator_version': GENERATOR_VERSION,
        'motion_clips_version': motion_clips.GENERATOR_VERSION,
        'seed': int(seed),
        **{f'{split}_per_class': int(n) for split, n in per_class.items()},
        'num_frames': int(num_frames),
        'size': int(size),
        'fps': fps,
        **sensor,
        'classes': list(CLASSES),
        'counts': {split: int(n) * len(CLASSES) for split, n in per_class.items()},
        'annotation_files': {split: list_file_name(split) for split in SPLITS},
        'events_prefix': 'events',
    }
    return write_generated_dataset(
        root, meta, 'motion_events',
        lambda root: motion_clips.dataset_is_complete(root, list_file_name, 'events'),
        lambda staging: motion_clips.write_splits(staging, meta, _write_split, sensor=sensor))
