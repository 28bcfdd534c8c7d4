"""Motion clips: a small, deterministic, synthetic video dataset whose classes need temporal order.

Every clip shows one textured object (square, disc, triangle or arrow, with an off-centre marker so
that no shape is rotationally symmetric) over a static, randomly textured background.  Across the
clip the object performs exactly one constant-velocity motion, which is its class:

    0 move_left   1 move_right   2 move_up      3 move_down
    4 fade_in     5 fade_out     6 grow         7 shrink

``fade_*``: the object's opacity ramps up (from 0.1-0.2 to 0.9-1.0) or down over the clip; the
objects of all other classes are opaque.  There are no rotation classes (spinning in place or
orbiting a pivot, clockwise vs counter-clockwise): the small demo SVFormer does not tell those
directions apart at 64 x 64.

The classes come in four pairs that are each other's time reversal (``REVERSED_CLASS``).  Every
clip is generated from five latent straight-line paths: x, y, orientation, log-radius and
opacity.  The class picks one path, traversed forwards or backwards over the clip; the others
stay frozen at a random point of their own path (opacity: at 1, fully opaque).  All paths are
symmetric around their midpoint and every random draw is made regardless of the class, so with
the same random state (exactly, pixel for pixel)

    render_clip(c, rng)[::-1]  ==  render_clip(REVERSED_CLASS[c], rng)

It follows that the frames of a clip, taken as an unordered set, are distributed identically for
both classes of a pair.  A model that ignores frame order (single frames, or frame features
averaged over time) can at best tell the four pairs apart, so it scores at most 50% on this
dataset; the direction of motion is visible only in the order of the frames.  One frame at a
*known* index does carry a hint for translation (an object that has to stay inside the frame
starts on the side it moves away from); that hint is temporal information too, and shuffling the
frames (mmspike.datasets.ShuffleFrames, the control of the demo) removes it.

``write_dataset`` stores the clips as ``.mp4`` files with MMAction2 ``VideoDataset`` annotation
lists.  It depends on numpy and OpenCV only (not torch).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .staging import write_generated_dataset

GENERATOR_NAME = 'mmspike.motion_clips'
GENERATOR_VERSION = 3

CLASSES = ('move_left', 'move_right', 'move_up', 'move_down',
           'fade_in', 'fade_out', 'grow', 'shrink')
REVERSED_CLASS = {
    'move_left': 'move_right', 'move_right': 'move_left',
    'move_up': 'move_down', 'move_down': 'move_up',
    'fade_in': 'fade_out', 'fade_out': 'fade_in',
    'grow': 'shrink', 'shrink': 'grow',
}
SPLITS = ('train', 'val', 'test')
SHAPES = ('square', 'disc', 'triangle', 'arrow')
TEXTURES = ('stripes', 'checker', 'noise')

# (latent path, direction).  Image y grows downwards, so "up" is -1 on y, and a positive angle
# turns +x towards +y, which is clockwise on screen.
_MOTION_OF_CLASS = {
    'move_left': ('x', -1.0), 'move_right': ('x', 1.0),
    'move_up': ('y', -1.0), 'move_down': ('y', 1.0),
    'fade_in': ('opacity', 1.0), 'fade_out': ('opacity', -1.0),
    'grow': ('log_radius', 1.0), 'shrink': ('log_radius', -1.0),
}
_PATHS = ('x', 'y', 'angle', 'log_radius', 'opacity')

# Geometry as fractions of the frame size; totals are per clip, whatever its length.
_MID_RADIUS_RANGE = (0.16, 0.22)
_RADIUS_RATIO_RANGE = (1.6, 2.0)
_TRAVEL_RANGE = (0.40, 0.60)
_TURN_RANGE_DEG = (200.0, 320.0)
_OPACITY_MID = 0.55
_OPACITY_SPAN_RANGE = (0.7, 0.9)
_LARGEST_RADIUS = _MID_RADIUS_RANGE[1] * np.sqrt(_RADIUS_RATIO_RANGE[1])
# The centre stays half the largest possible radius inside the frame, so at least roughly
# three quarters of the object is visible; the margin is the same for every class.
_CENTRE_MARGIN = 0.5 * _LARGEST_RADIUS

_SUPERSAMPLING = 2
_SPRITE_SIZE = 64
_SPRITE_UNIT = 24.0
_MARKER_CENTRE = (0.42, 0.3)
_MARKER_RADIUS = 0.3

# decord 0.6.0 decodes videos of these widths (and of every odd width) into wrongly shaped arrays,
# whichever encoder wrote them; measured for widths 16..399.
_DECORD_UNREADABLE_SIZES = frozenset({16, 24, 48, 72})

_MIN_SIZE = 16
_MIN_FRAMES = 4


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to draw one clip; ``render_frames`` turns it into pixels."""

    label: int
    size: int
    background: np.ndarray  # (S*size, S*size, 3) float32, supersampled by _SUPERSAMPLING
    sprite_rgb: np.ndarray  # (_SPRITE_SIZE, _SPRITE_SIZE, 3) float32
    sprite_alpha: np.ndarray  # (_SPRITE_SIZE, _SPRITE_SIZE) float32 in [0, 1]
    centres: np.ndarray  # (num_frames, 2) x, y in output pixels
    angles: np.ndarray  # (num_frames,) radians, clockwise on screen
    radii: np.ndarray  # (num_frames,) output pixels
    opacities: np.ndarray  # (num_frames,) in (0, 1]

    @property
    def num_frames(self) -> int:
        return len(self.angles)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return int(value)


def _check_render_args(label, num_frames, size) -> None:
    _check_int('label', label, 0)
    if label >= len(CLASSES):
        raise ValueError(f'label must be < {len(CLASSES)}, got {label}')
    _check_int('num_frames', num_frames, _MIN_FRAMES)
    _check_int('size', size, _MIN_SIZE)


def clip_phases(num_frames: int) -> np.ndarray:
    """Position of each frame along a path, from -0.5 to 0.5, exactly antisymmetric in time."""
    steps = np.arange(num_frames, dtype=np.float64)
    return (2.0 * steps - (num_frames - 1)) / (2.0 * (num_frames - 1))


def _smooth_noise(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """Noise in [-1, 1]-ish whose features are a few cells across the image."""
    cells = int(rng.integers(3, 7))
    grid = rng.uniform(-1.0, 1.0, (cells, cells, channels)).astype(np.float32)
    smooth = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return smooth.reshape(size, size, channels)


def render_background(rng: np.random.Generator, canvas_size: int) -> np.ndarray:
    """Low-frequency colour noise plus a colour gradient and a fine static grain, float32 RGB."""
    base = rng.uniform(60.0, 190.0, 3)
    blobs = _smooth_noise(rng, canvas_size, 3) * rng.uniform(20.0, 45.0)
    ramp_direction = rng.uniform(0.0, 2.0 * np.pi)
    ramp_colour = rng.uniform(-30.0, 30.0, 3)
    coords = np.linspace(-0.5, 0.5, canvas_size)
    ramp = (np.cos(ramp_direction) * coords[None, :]
            + np.sin(ramp_direction) * coords[:, None])
    grain = rng.normal(0.0, 5.0, (canvas_size, canvas_size, 3))
    image = base + blobs + ramp[..., None] * ramp_colour + grain
    return np.clip(image, 0.0, 255.0).astype(np.float32)


def _shape_outline(shape: str) -> np.ndarray | None:
    """Polygon in unit coordinates (x right, y down); None for the disc."""
    outlines = {
        'square': [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
        'triangle': [(0.0, -1.0), (0.75, 0.7), (-0.75, 0.7)],
        'arrow': [(-0.9, -0.3), (0.15, -0.3), (0.15, -0.75), (0.95, 0.0),
                  (0.15, 0.75), (0.15, 0.3), (-0.9, 0.3)],
    }
    return None if shape == 'disc' else np.asarray(outlines[shape])


def _sprite_pixels(unit_points: np.ndarray) -> np.ndarray:
    centre = (_SPRITE_SIZE - 1) / 2.0
    return unit_points * _SPRITE_UNIT + centre


_FIXED_POINT_BITS = 4


def _to_fixed_point(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _FIXED_POINT_BITS)).astype(np.int32)


def render_shape_mask(shape: str) -> np.ndarray:
    """Anti-aliased coverage of ``shape`` on the sprite canvas, float32 in [0, 1]."""
    mask = np.zeros((_SPRITE_SIZE, _SPRITE_SIZE), np.uint8)
    outline = _shape_outline(shape)
    if outline is None:
        centre = _to_fixed_point(_sprite_pixels(np.zeros(2)))
        radius = int(round(0.9 * _SPRITE_UNIT * (1 << _FIXED_POINT_BITS)))
        cv2.circle(mask, tuple(int(v) for v in centre), radius, 255, -1, cv2.LINE_AA,
                   _FIXED_POINT_BITS)
    else:
        polygon = _to_fixed_point(_sprite_pixels(outline))
        cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, _FIXED_POINT_BITS)
    return mask.astype(np.float32) / 255.0


def _sprite_unit_grid() -> tuple[np.ndarray, np.ndarray]:
    pixels = np.arange(_SPRITE_SIZE, dtype=np.float32)
    unit = (pixels - (_SPRITE_SIZE - 1) / 2.0) / _SPRITE_UNIT
    return np.meshgrid(unit, unit)


def _texture_weights(texture: str, rng: np.random.Generator) -> np.ndarray:
    """Blend weight in [0, 1] between the two texture colours, on the sprite canvas."""
    u, v = _sprite_unit_grid()
    turn = rng.uniform(0.0, np.pi)
    along = np.cos(turn) * u + np.sin(turn) * v
    across = -np.sin(turn) * u + np.cos(turn) * v
    if texture == 'stripes':
        period = rng.uniform(0.3, 0.6)
        wave = np.sin(2.0 * np.pi * along / period + rng.uniform(0.0, 2.0 * np.pi))
        return np.clip(3.0 * wave, -1.0, 1.0) * 0.5 + 0.5
    if texture == 'checker':
        cell = rng.uniform(0.3, 0.55)
        offset = rng.uniform(0.0, cell, 2)
        parity = np.floor((along + offset[0]) / cell) + np.floor((across + offset[1]) / cell)
        return np.mod(parity, 2.0).astype(np.float32)
    noise = _smooth_noise(rng, _SPRITE_SIZE, 1)[..., 0]
    return np.clip(2.0 * noise + 0.5, 0.0, 1.0)


def _contrasting_colours(rng: np.random.Generator, background_mean: np.ndarray) -> np.ndarray:
    """Two colours that stand out from the background and from each other."""
    while True:
        colours = rng.uniform(0.0, 255.0, (2, 3))
        distinct_from_background = np.abs(colours - background_mean).sum(axis=1).min() >= 150.0
        distinct_from_each_other = np.abs(colours[0] - colours[1]).sum() >= 90.0
        if distinct_from_background and distinct_from_each_other:
            return colours


def render_sprite(rng: np.random.Generator,
                  background_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random textured shape with an off-centre marker: (rgb float32, alpha float32)."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    colours = _contrasting_colours(rng, background_mean)
    weights = _texture_weights(texture, rng)[..., None]
    rgb = colours[0] * (1.0 - weights) + colours[1] * weights
    u, v = _sprite_unit_grid()
    marker = np.hypot(u - _MARKER_CENTRE[0], v - _MARKER_CENTRE[1]) <= _MARKER_RADIUS
    rgb[marker] = 255.0 - colours.mean(axis=0)
    return rgb.astype(np.float32), render_shape_mask(shape)


@dataclass(frozen=True)
class _LinePath:
    mid: float
    span: float

    def at(self, phases: np.ndarray) -> np.ndarray:
        return self.mid + self.span * phases


def _sample_translation_path(rng: np.random.Generator, size: int) -> _LinePath:
    lowest, highest = _CENTRE_MARGIN * size, (1.0 - _CENTRE_MARGIN) * size - 1.0
    span = rng.uniform(*_TRAVEL_RANGE) * size
    mid = rng.uniform(lowest + span / 2.0, highest - span / 2.0)
    return _LinePath(mid, span)


def _sample_latent_paths(rng: np.random.Generator, size: int) -> dict[str, _LinePath]:
    return {
        'x': _sample_translation_path(rng, size),
        'y': _sample_translation_path(rng, size),
        'angle': _LinePath(rng.uniform(0.0, 2.0 * np.pi),
                           np.deg2rad(rng.uniform(*_TURN_RANGE_DEG))),
        'log_radius': _LinePath(rng.uniform(*np.log(np.asarray(_MID_RADIUS_RANGE) * size)),
                                np.log(rng.uniform(*_RADIUS_RATIO_RANGE))),
        'opacity': _LinePath(_OPACITY_MID, rng.uniform(*_OPACITY_SPAN_RANGE)),
    }


def _trajectories(paths: dict[str, _LinePath], moving_path: str, direction: float,
                  frozen_frames: dict[str, int], num_frames: int) -> dict[str, np.ndarray]:
    phases = clip_phases(num_frames)
    tracks = {}
    for name, path in paths.items():
        if name == moving_path:
            tracks[name] = path.mid + (direction * path.span) * phases
        else:
            tracks[name] = np.full(num_frames, path.at(phases[frozen_frames[name]]))
    return tracks


def sample_clip_spec(label: int, rng: np.random.Generator, num_frames: int = 16,
                     size: int = 64) -> ClipSpec:
    """Draw the background, object and motion of one clip of class ``label``."""
    _check_render_args(label, num_frames, size)
    # The draws below never depend on the label: that is what makes reversal exact.
    background = render_background(rng, size * _SUPERSAMPLING)
    sprite_rgb, sprite_alpha = render_sprite(rng, background.reshape(-1, 3).mean(axis=0))
    paths = _sample_latent_paths(rng, size)
    frozen_frames = {name: int(rng.integers(num_frames)) for name in _PATHS}
    moving_path, direction = _MOTION_OF_CLASS[CLASSES[label]]
    tracks = _trajectories(paths, moving_path, direction, frozen_frames, num_frames)
    opacities = tracks['opacity'] if moving_path == 'opacity' else np.ones(num_frames)
    return ClipSpec(label=int(label), size=int(size), background=background,
                    sprite_rgb=sprite_rgb, sprite_alpha=sprite_alpha,
                    centres=np.stack([tracks['x'], tracks['y']], axis=1),
                    angles=tracks['angle'], radii=np.exp(tracks['log_radius']),
                    opacities=opacities)


def _sprite_to_canvas(centre: np.ndarray, angle: float, radius: float) -> np.ndarray:
    """2x3 affine map from sprite pixels to supersampled canvas pixels."""
    scale = radius * _SUPERSAMPLING / _SPRITE_UNIT
    turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # Output pixel i spans supersampled pixels [S*i, S*i + S - 1], centred at S*i + (S - 1) / 2.
    canvas_centre = centre * _SUPERSAMPLING + (_SUPERSAMPLING - 1) / 2.0
    sprite_centre = np.full(2, (_SPRITE_SIZE - 1) / 2.0)
    return np.hstack([turn, (canvas_centre - turn @ sprite_centre)[:, None]])


def _downsample(canvas: np.ndarray, size: int) -> np.ndarray:
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def render_frames(spec: ClipSpec) -> np.ndarray:
    """Draw a clip: (num_frames, size, size, 3) uint8 RGB."""
    canvas_size = spec.size * _SUPERSAMPLING
    premultiplied = spec.sprite_rgb * spec.sprite_alpha[..., None]
    frames = np.empty((spec.num_frames, spec.size, spec.size, 3), np.uint8)
    for index in range(spec.num_frames):
        warp = _sprite_to_canvas(spec.centres[index], spec.angles[index], spec.radii[index])
        colour = cv2.warpAffine(premultiplied, warp, (canvas_size, canvas_size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(spec.sprite_alpha, warp, (canvas_size, canvas_size),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        opacity = spec.opacities[index]
        canvas = spec.background * (1.0 - opacity * alpha[..., None]) + opacity * colour
        frames[index] = _downsample(canvas, spec.size)
    return frames


def render_empty_frame(spec: ClipSpec) -> np.ndarray:
    """The clip's background as a frame shows it without the object, (size, size, 3) uint8."""
    return _downsample(spec.background, spec.size)


def render_clip(label: int, rng: np.random.Generator, num_frames: int = 16,
                size: int = 64) -> np.ndarray:
    """One clip of class ``label``: (num_frames, size, size, 3) uint8 RGB, determined by ``rng``."""
    return render_frames(sample_clip_spec(label, rng, num_frames, size))


def clip_rng(seed: int, split: str, label: int, index: int) -> np.random.Generator:
    """The generator of one dataset clip.

    The key (split, label, index) names a child of the split's stream in numpy's SeedSequence
    tree, so every clip is independent of how many clips the splits hold.
    """
    key = (SPLITS.index(split), int(label), int(index))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def list_file_name(split: str) -> str:
    return f'motion_clips_{split}_list_videos.txt'


def clip_relative_path(split: str, label: int, index: int, extension: str) -> str:
    """``<class>/<class>_<split>_<index:04d>.<extension>``: where a clip's file lies under the
    files directory (``videos``, ``events``)."""
    name = CLASSES[label]
    return f'{name}/{name}_{split}_{index:04d}.{extension}'


def video_relative_path(split: str, label: int, index: int) -> str:
    return clip_relative_path(split, label, index, 'mp4')


def _requested_meta(seed, per_class, num_frames, size, fps) -> dict:
    return {
        'generator': GENERATOR_NAME,
        'generator_version': GENERATOR_VERSION,
        'seed': seed,
        'train_per_class': per_class['train'],
        'val_per_class': per_class['val'],
        'test_per_class': per_class['test'],
        'num_frames': num_frames,
        'size': size,
        'fps': fps,
    }


def _full_meta(requested: dict) -> dict:
    counts = {split: requested[f'{split}_per_class'] * len(CLASSES) for split in SPLITS}
    return {
        **requested,
        'classes': list(CLASSES),
        'counts': counts,
        'annotation_files': {split: list_file_name(split) for split in SPLITS},
        'video_prefix': 'videos',
    }


def _validate_write_args(seed, per_class, num_frames, size, fps) -> None:
    _check_int('seed', seed, 0)
    for split, count in per_class.items():
        _check_int(f'{split}_per_class', count, 1)
    _check_int('num_frames', num_frames, _MIN_FRAMES)
    _check_int('size', size, _MIN_SIZE)
    if size % 2 or size in _DECORD_UNREADABLE_SIZES:
        raise ValueError(f'size={size} cannot be used for videos: decord decodes odd sizes and '
                         f'{sorted(_DECORD_UNREADABLE_SIZES)} into wrongly shaped frames; '
                         f'pick another even size, e.g. 32, 64 or 112')
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not fps > 0:
        raise ValueError(f'fps must be a positive number, got {fps!r}')


def dataset_is_complete(root: Path, list_name=list_file_name, files_dir: str = 'videos') -> bool:
    """Whether ``root`` has ``classes.txt``, the annotation list of every split
    (``list_name(split)``) and every file those lists name (under ``root/files_dir``)."""
    if not (root / 'classes.txt').is_file():
        return False
    for split in SPLITS:
        list_file = root / list_name(split)
        if not list_file.is_file():
            return False
        for line in list_file.read_text().splitlines():
            if not (root / files_dir / line.rsplit(' ', 1)[0]).is_file():
                return False
    return True


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode RGB ``frames`` as MPEG-4 part 2 ('mp4v') into ``path``."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), float(fps),
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV could not open an mp4v writer for {path}')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_split(staging: Path, split: str, per_class: int, files_dir: str,
                list_name: Callable[[str], str], relative_path: Callable[[str, int, int], str],
                write_clip: Callable[[Path, int, int], object]) -> list:
    """Write the clips of ``split`` and its annotation list into ``staging``.

    Clips are written class by class, ``per_class`` of each, by ``write_clip(path, label,
    index)`` to ``staging/files_dir/relative_path(split, label, index)``; the list
    ``staging/list_name(split)`` gets a line ``<relative path> <label>`` per clip.  Returns
    what ``write_clip`` returned, per clip in that order.
    """
    lines, results = [], []
    for label, name in enumerate(CLASSES):
        (staging / files_dir / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            relative = relative_path(split, label, index)
            results.append(write_clip(staging / files_dir / relative, label, index))
            lines.append(f'{relative} {label}')
    (staging / list_name(split)).write_text('\n'.join(lines) + '\n')
    return results


def _write_split(staging: Path, split: str, meta: dict) -> None:
    started = time.perf_counter()

    def write_clip(path, label, index):
        rng = clip_rng(meta['seed'], split, label, index)
        write_video(path, render_clip(label, rng, meta['num_frames'], meta['size']),
                    meta['fps'])

    written = write_split(staging, split, meta[f'{split}_per_class'], 'videos', list_file_name,
                          video_relative_path, write_clip)
    elapsed = time.perf_counter() - started
    print(f'[motion_clips] {split}: {len(written)} clips in {elapsed:.1f} s', flush=True)


def write_splits(staging: Path, meta: dict, write_one_split: Callable[..., None],
                 **kwargs) -> str:
    """Write every split, ``write_one_split(staging, split, meta, **kwargs)``, and
    ``classes.txt`` (the class names, one a line, in label order) into ``staging``; returns
    what was written, in words."""
    for split in SPLITS:
        write_one_split(staging, split, meta, **kwargs)
    (staging / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
    return f'{sum(meta["counts"].values())} clips'


def write_dataset(root, train_per_class: int = 40, val_per_class: int = 10,
                  test_per_class: int = 20, num_frames: int = 16, size: int = 64,
                  seed: int = 0, fps: float = 8) -> dict:
    """Write the dataset under ``root`` (if not already there) and return its meta data.

    Layout::

        root/videos/<class>/<class>_<split>_<index:04d>.mp4
        root/motion_clips_{train,val,test}_list_videos.txt   lines "<class>/<file>.mp4 <label>"
        root/classes.txt, root/meta.json

    Counts are per class.  An existing dataset with the same parameters is reused; one with other
    parameters is rebuilt in ``<root>.tmp-<pid>`` and swapped in only when complete.
    """
    per_class = {'train': train_per_class, 'val': val_per_class, 'test': test_per_class}
    _validate_write_args(seed, per_class, num_frames, size, fps)
    meta = _full_meta(_requested_meta(int(seed), {k: int(v) for k, v in per_class.items()},
                                      int(num_frames), int(size), fps))
    return write_generated_dataset(root, meta, 'motion_clips', dataset_is_complete,
                                   lambda staging: write_splits(staging, meta, _write_split))
