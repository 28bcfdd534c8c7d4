"""Seg clips: a small, deterministic, generated video semantic-segmentation dataset (VSPW layout).

It is meant for a CPU demo of video semantic segmentation.  Every video shows a static outdoor
scene, sky above and ground below a horizon at a random height and slight tilt, in front of which
two to four textured things of different classes move; about every other video also has one
small distractor object of no class.  The files follow the on-disk layout of the real VSPW dataset
(Miao et al., CVPR 2021), so the loader that reads the generated data reads the real data too::

    root/data/<video_id>/origin/<frame:08d>.jpg   3-channel JPEG (quality 90), frames from 0
    root/data/<video_id>/mask/<frame:08d>.png     8-bit single-channel PNG, the same stem
    root/train.txt, root/val.txt, root/test.txt   one video id per line
    root/meta.json

Video ids are ``video_<index:05d>``, numbered across the splits (train first, then val, test), so
they are unique.  Mask values follow VSPW: 0 is "others" (the distractor; VSPW configs ignore it
with ``reduce_zero_label=True``, which maps 0 to 255 and ``k`` to ``k - 1``), 1..K are the classes
of :data:`CLASSES` and 255 would be "ignore" (not used here).

Classes (mask value: name, what makes it recognisable): every class has its own colour family,
texture and shape; each object draws its hue, saturation, brightness, size, rotation and texture
phase at random within its class's ranges (:data:`CLASS_STYLES`).

    1 sky     light blue (hue 200-224), brighter towards the horizon, soft white clouds
    2 ground  green (hue 84-116), darker, mottled, with horizontal furrows and grain
    3 ball    red (hue -10-10) disc, shaded like a sphere lit from the upper left
    4 box     orange-yellow (hue 36-50) square or short rectangle, checkered with cream
    5 kite    violet-magenta (hue 282-308) triangle, striped across with a darker shade
    6 bar     grey-black (unsaturated) long thin rectangle, with light-grey diagonal bands
    0 others  a small unsaturated hexagon with a mottled texture (the distractor)

Motion: every object moves at constant velocity (0.012-0.03 of the frame size per frame, any
direction) and bounces off the borders of the region its centre keeps to (0.1-0.9 of the frame),
and turns at a constant rate; sky and ground do not move.  Things are drawn back to front in a
random depth order, so they occlude each other and each mask shows the front-most object.

Rendering: image and mask come from the same geometry.  The frame is drawn on a canvas
supersampled 4x (2x above 128 px) and area-downsampled; a mask pixel is the label that covers the
most of the canvas pixels under it, so mask edges lie where the visible edges are.

Randomness: every video has its own children of ``numpy.random.SeedSequence(seed)``: the scene
(classes, colours, sizes, motion) does not depend on ``img_size`` or on the number of frames (the
first frames of a longer video show the same positions as a shorter one's), and a video does not
depend on how many videos follow it.  ``write_dataset`` depends on numpy and OpenCV only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..clip_sampling import bounded_int
from .staging import frames_written, write_generated_dataset

GENERATOR_NAME = 'mmspike.seg_clips'
GENERATOR_VERSION = 1

# Mask values 1..K; 0 is 'others' and 255 'ignore', as in VSPW.
CLASSES = ('sky', 'ground', 'ball', 'box', 'kite', 'bar')
# One RGB triple per class of CLASSES (for visualisation; the class's typical colour).
PALETTE = [[110, 170, 235], [70, 140, 45], [225, 30, 30], [245, 175, 20], [190, 50, 210],
           [60, 60, 60]]
OTHERS = 0
IGNORE = 255
SKY, GROUND, BALL, BOX, KITE, BAR = range(1, len(CLASSES) + 1)
THING_CLASSES = (BALL, BOX, KITE, BAR)
SPLITS = ('train', 'val', 'test')

IMAGE_TEMPLATE = 'data/{video}/origin/{frame:08d}.jpg'
MASK_TEMPLATE = 'data/{video}/mask/{frame:08d}.png'
JPEG_QUALITY = 90

# Per class: hue centre and half-range (degrees), saturation and value ranges.
CLASS_STYLES = {
    SKY: dict(hue=212.0, hue_jitter=12.0, saturation=(0.35, 0.6), value=(0.78, 0.95)),
    GROUND: dict(hue=100.0, hue_jitter=16.0, saturation=(0.45, 0.75), value=(0.38, 0.6)),
    BALL: dict(hue=0.0, hue_jitter=10.0, saturation=(0.75, 0.95), value=(0.8, 1.0)),
    BOX: dict(hue=43.0, hue_jitter=7.0, saturation=(0.8, 1.0), value=(0.85, 1.0)),
    KITE: dict(hue=295.0, hue_jitter=13.0, saturation=(0.55, 0.85), value=(0.7, 0.95)),
    BAR: dict(hue=0.0, hue_jitter=180.0, saturation=(0.0, 0.1), value=(0.12, 0.25)),
    OTHERS: dict(hue=0.0, hue_jitter=180.0, saturation=(0.05, 0.25), value=(0.5, 0.8)),
}

# Object size ("radius": the unit of the shape's outline), fraction of the frame size.
_RADIUS_RANGE = {BALL: (0.09, 0.15), BOX: (0.09, 0.14), KITE: (0.11, 0.17), BAR: (0.18, 0.26),
                 OTHERS: (0.05, 0.075)}
_THINGS_RANGE = (2, 4)
_OTHERS_PROBABILITY = 0.5
_SPEED_RANGE = (0.012, 0.03)  # fraction of the frame size per frame
_TURN_RATE_MAX = 0.06  # radians per frame
_CENTRE_RANGE = (0.1, 0.9)  # the region (fraction of the frame) each centre bounces inside
_HORIZON_RANGE = (0.3, 0.7)
_TILT_MAX = np.deg2rad(8.0)

_MIN_SIZE = 16
_MAX_SIZE = 2048
_MIN_FRAMES = 2
_MAX_FRAMES = 100_000_000  # eight-digit frame stems
_MAX_VIDEOS = 100_000  # five-digit video ids

_STREAM_SCENE, _STREAM_TEXTURE = 0, 1


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Child ``key`` of the seed's SeedSequence tree; key[0] names the stream (_STREAM_*)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


def supersampling(img_size: int) -> int:
    """Canvas pixels per frame pixel (along each axis)."""
    return 4 if img_size <= 128 else 2


# --------------------------------------------------------------------------------------------
# Naming and layout

def video_id(index: int) -> str:
    """Id (directory name) of the ``index``-th video (from 0, counted across the splits)."""
    return f'video_{index:05d}'


def split_video_ids(train_videos: int, val_videos: int, test_videos: int) -> dict:
    """``{'train': [ids], 'val': [...], 'test': [...]}``: consecutive indices, train first."""
    counts = {'train': train_videos, 'val': val_videos, 'test': test_videos}
    ids, start = {}, 0
    for split in SPLITS:
        ids[split] = [video_id(index) for index in range(start, start + counts[split])]
        start += counts[split]
    return ids


def image_path(root, video: str, frame: int) -> Path:
    return Path(root) / IMAGE_TEMPLATE.format(video=video, frame=frame)


def mask_path(root, video: str, frame: int) -> Path:
    return Path(root) / MASK_TEMPLATE.format(video=video, frame=frame)


# --------------------------------------------------------------------------------------------
# Scene

def hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    """RGB (float, 0-255) of a colour given as hue in degrees, saturation and value in [0, 1]."""
    hue = (hue % 360.0) / 60.0
    chroma = value * saturation
    second = chroma * (1.0 - abs(hue % 2.0 - 1.0))
    sector = int(hue) % 6
    rgb = [(chroma, second, 0.0), (second, chroma, 0.0), (0.0, chroma, second),
           (0.0, second, chroma), (second, 0.0, chroma), (chroma, 0.0, second)][sector]
    return (np.asarray(rgb) + (value - chroma)) * 255.0


def _class_colour(rng: np.random.Generator, label: int) -> np.ndarray:
    style = CLASS_STYLES[label]
    hue = style['hue'] + rng.uniform(-style['hue_jitter'], style['hue_jitter'])
    return hsv_to_rgb(hue, rng.uniform(*style['saturation']), rng.uniform(*style['value']))


def _regular_polygon(corners: int, turn: float = 0.0) -> np.ndarray:
    angles = turn + 2.0 * np.pi * np.arange(corners) / corners
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


@dataclass(frozen=True)
class SceneObject:
    """One moving object: its mask value, convex outline and appearance; positions per frame.

    ``outline``: a convex polygon in unit coordinates (x right, y down; multiplied by
    ``radius``), None for a disc of radius 1.  ``radius`` and ``centres`` are fractions of the
    frame size; ``angles`` in radians, clockwise on screen.  ``colours``: the two colours of
    its texture (float RGB); ``period`` and ``phase``: the texture's scale and offset.
    """

    label: int
    outline: np.ndarray | None
    radius: float
    centres: np.ndarray  # [T, 2]
    angles: np.ndarray  # [T]
    colours: np.ndarray  # [2, 3]
    period: float
    phase: float

    @property
    def extent(self) -> float:
        """Largest distance of the outline from the centre, unit coordinates."""
        return 1.0 if self.outline is None else float(np.hypot(*self.outline.T).max())


def _bounce(start: float, velocity: float, frames: np.ndarray) -> np.ndarray:
    """Positions of a point moving at constant ``velocity`` that bounces inside _CENTRE_RANGE."""
    low, high = _CENTRE_RANGE
    span = high - low
    travelled = np.mod(start - low + velocity * frames, 2.0 * span)
    return low + np.where(travelled > span, 2.0 * span - travelled, travelled)


def _sample_object(rng: np.random.Generator, label: int, num_frames: int) -> SceneObject:
    if label == BALL:
        outline = None
    elif label == BOX:
        aspect = rng.uniform(0.65, 1.0)
        outline = np.array([[-1.0, -aspect], [1.0, -aspect], [1.0, aspect], [-1.0, aspect]])
    elif label == KITE:
        outline = np.array([[0.0, -1.1], [0.95, 0.75], [-0.95, 0.75]])
    elif label == BAR:
        width = rng.uniform(0.24, 0.32)
        outline = np.array([[-1.0, -width], [1.0, -width], [1.0, width], [-1.0, width]])
    else:
        outline = _regular_polygon(6, rng.uniform(0.0, np.pi / 3))
    radius = rng.uniform(*_RADIUS_RANGE[label])
    base = _class_colour(rng, label)
    if label == BOX:  # checkered with cream
        second = 0.45 * base + 0.55 * np.array([255.0, 245.0, 215.0])
    elif label == BAR:  # light-grey bands
        second = np.full(3, rng.uniform(150.0, 190.0)) + rng.uniform(-8.0, 8.0, 3)
    elif label == KITE:  # darker stripes
        second = base * rng.uniform(0.45, 0.6)
    else:
        second = base * rng.uniform(0.7, 0.85)
    period = {BALL: 1.0, BOX: rng.uniform(0.55, 0.75), KITE: rng.uniform(0.4, 0.55),
              BAR: rng.uniform(0.3, 0.45), OTHERS: rng.uniform(0.3, 0.5)}[label]
    phase = rng.uniform(0.0, 2.0 * np.pi)
    start = rng.uniform(*_CENTRE_RANGE, 2)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    speed = rng.uniform(*_SPEED_RANGE)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    turn_rate = rng.uniform(-_TURN_RATE_MAX, _TURN_RATE_MAX)
    frames = np.arange(num_frames, dtype=np.float64)
    centres = np.stack([_bounce(start[0], speed * np.cos(direction), frames),
                        _bounce(start[1], speed * np.sin(direction), frames)], axis=1)
    return SceneObject(label=label, outline=outline, radius=float(radius), centres=centres,
                       angles=angle + turn_rate * frames, colours=np.stack([base, second]),
                       period=float(period), phase=float(phase))


@dataclass(frozen=True)
class VideoSpec:
    """Everything about one video; :func:`render_frame` turns a frame of it into pixels.

    ``background`` (float32 RGB) and ``background_labels`` (uint8: sky or ground) are on the
    supersampled canvas; ``objects`` are listed back to front.
    """

    video: str
    img_size: int
    supersampling: int
    horizon: float  # fraction of the frame height at the frame's centre column
    tilt: float  # radians
    background: np.ndarray
    background_labels: np.ndarray
    objects: tuple

    @property
    def num_frames(self) -> int:
        return len(self.objects[0].angles)


def _smooth_noise(rng: np.random.Generator, cells: tuple, shape: tuple) -> np.ndarray:
    """Noise in about [-1, 1] with ``cells`` (rows, columns) features across ``shape``."""
    grid = rng.uniform(-1.0, 1.0, cells).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _render_background(scene: np.random.Generator, texture: np.random.Generator,
                       img_size: int, factor: int):
    """Sky above the horizon line and ground below it, on the canvas; (RGB float32, labels,
    horizon, tilt).  Colours and geometry come from ``scene``, pixel noise from ``texture``."""
    horizon = scene.uniform(*_HORIZON_RANGE)
    tilt = scene.uniform(-_TILT_MAX, _TILT_MAX)
    sky, ground = _class_colour(scene, SKY), _class_colour(scene, GROUND)
    haze = scene.uniform(0.15, 0.4)  # sky brightening towards the horizon
    cloudiness = scene.uniform(0.5, 0.9)
    furrow_period = scene.uniform(0.035, 0.06)  # fraction of the frame
    furrow_depth = scene.uniform(0.12, 0.22)

    canvas = img_size * factor
    coords = (np.arange(canvas, dtype=np.float32) + 0.5) / canvas  # fraction of the frame
    x, y = np.meshgrid(coords, coords)
    line = horizon + np.tan(tilt) * (x - 0.5)
    is_sky = y < line
    labels = np.where(is_sky, SKY, GROUND).astype(np.uint8)

    height_above = np.clip((line - y) / max(horizon, 1e-6), 0.0, 1.0)
    sky_rgb = sky + (255.0 - sky) * (haze * (1.0 - height_above))[..., None]
    clouds = _smooth_noise(texture, (int(texture.integers(5, 9)), int(texture.integers(2, 5))),
                           (canvas, canvas))
    clouds = np.clip((clouds - 0.2) * 2.5, 0.0, 1.0) * cloudiness
    sky_rgb = sky_rgb + (np.array([250.0, 250.0, 255.0]) - sky_rgb) * clouds[..., None]

    mottle = _smooth_noise(texture, (int(texture.integers(8, 14)),) * 2, (canvas, canvas))
    furrows = np.sin(2.0 * np.pi * (y - line) / furrow_period)
    shade = 1.0 + 0.2 * mottle - furrow_depth * (furrows > 0.3)
    ground_rgb = ground * shade[..., None]
    ground_rgb = ground_rgb + texture.normal(0.0, 7.0, ground_rgb.shape)

    image = np.where(is_sky[..., None], sky_rgb, ground_rgb)
    image = image + texture.normal(0.0, 2.0, image.shape)
    return (np.clip(image, 0.0, 255.0).astype(np.float32), labels, float(horizon),
            float(tilt))


def sample_video(seed: int, index: int, num_frames: int = 24, img_size: int = 64) -> VideoSpec:
    """Background, objects and their motion of the ``index``-th video of the dataset."""
    seed = bounded_int('seed', seed, 0)
    index = bounded_int('index', index, 0, _MAX_VIDEOS - 1)
    num_frames = bounded_int('num_frames', num_frames, _MIN_FRAMES, _MAX_FRAMES)
    img_size = bounded_int('img_size', img_size, _MIN_SIZE, _MAX_SIZE)
    scene, texture = _rng(seed, _STREAM_SCENE, index), _rng(seed, _STREAM_TEXTURE, index)
    factor = supersampling(img_size)
    background, labels, horizon, tilt = _render_background(scene, texture, img_size, factor)
    count = int(scene.integers(_THINGS_RANGE[0], _THINGS_RANGE[1] + 1))
    order = [int(label) for label in scene.choice(THING_CLASSES, size=count, replace=False)]
    with_others = scene.uniform() < _OTHERS_PROBABILITY
    others_depth = int(scene.integers(0, count + 1))
    if with_others:
        order.insert(others_depth, OTHERS)
    objects = tuple(_sample_object(scene, label, num_frames) for label in order)
    return VideoSpec(video=video_id(index), img_size=img_size, supersampling=factor,
                     horizon=horizon, tilt=tilt, background=background,
                     background_labels=labels, objects=objects)


# --------------------------------------------------------------------------------------------
# Rendering

def _inside_convex(outline: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    orientation = np.sign(np.sum(outline[:, 0] * np.roll(outline[:, 1], -1)
                                 - np.roll(outline[:, 0], -1) * outline[:, 1]))
    inside = np.ones(u.shape, bool)
    for (ax, ay), (bx, by) in zip(outline, np.roll(outline, -1, axis=0)):
        inside &= orientation * ((bx - ax) * (v - ay) - (by - ay) * (u - ax)) >= 0.0
    return inside


def _texture(obj: SceneObject, u, v, screen_u, screen_v) -> np.ndarray:
    """Colours [N, 3] of the object at local unit coordinates (u, v) (screen_*: unrotated)."""
    first, second = obj.colours
    if obj.label == BALL:  # a sphere lit from the upper left, with a highlight
        normal_z = np.sqrt(np.clip(1.0 - screen_u ** 2 - screen_v ** 2, 0.0, 1.0))
        light = np.array([-0.45, -0.55, 0.7]) / np.linalg.norm([-0.45, -0.55, 0.7])
        lit = np.clip(screen_u * light[0] + screen_v * light[1] + normal_z * light[2], 0.0, 1.0)
        rgb = first * (0.4 + 0.6 * lit)[:, None] + (255.0 * 0.5 * lit ** 24)[:, None]
        return rgb
    if obj.label == BOX:  # checker
        cells = np.floor(u / obj.period + obj.phase) + np.floor(v / obj.period + obj.phase)
        pick = np.mod(cells, 2.0)
    elif obj.label == KITE:  # stripes parallel to the base
        pick = np.sin(2.0 * np.pi * v / obj.period + obj.phase) > 0.0
    elif obj.label == BAR:  # diagonal bands
        pick = np.sin(2.0 * np.pi * (u - v) / obj.period + obj.phase) > 0.2
    else:  # others: mottled
        pick = 0.5 + 0.5 * np.sin(2.0 * np.pi * u / obj.period + obj.phase) \
            * np.sin(2.0 * np.pi * v / obj.period)
    pick = np.asarray(pick, np.float64)[:, None]
    return first * (1.0 - pick) + second * pick


def _object_pixels(spec: VideoSpec, obj: SceneObject, frame: int):
    """Canvas pixels the object covers in ``frame``: (rows, columns, colours), or None."""
    canvas = spec.img_size * spec.supersampling
    scale = obj.radius * canvas  # canvas pixels per unit
    centre = obj.centres[frame] * canvas - 0.5  # canvas pixel coordinates
    reach = obj.extent * scale + 1.0
    x0, y0 = (max(0, int(np.floor(c - reach))) for c in centre)
    x1, y1 = (min(canvas, int(np.ceil(c + reach)) + 1) for c in centre)
    if x0 >= x1 or y0 >= y1:
        return None
    rows, cols = np.mgrid[y0:y1, x0:x1]
    screen_u = (cols.ravel() - centre[0]) / scale
    screen_v = (rows.ravel() - centre[1]) / scale
    cos, sin = np.cos(obj.angles[frame]), np.sin(obj.angles[frame])
    u = cos * screen_u + sin * screen_v
    v = -sin * screen_u + cos * screen_v
    if obj.outline is None:
        inside = screen_u ** 2 + screen_v ** 2 <= 1.0
    else:
        inside = _inside_convex(obj.outline, u, v)
    if not inside.any():
        return None
    colours = _texture(obj, u[inside], v[inside], screen_u[inside], screen_v[inside])
    return rows.ravel()[inside], cols.ravel()[inside], colours


def _majority(labels: np.ndarray, size: int, factor: int) -> np.ndarray:
    """Per frame pixel, the label covering most of its ``factor`` x ``factor`` canvas pixels
    (ties go to the smaller label)."""
    values = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    if len(values) == 1:
        return np.full((size, size), values[0], np.uint8)
    # Area-averaging an indicator gives the covered fraction (exact: multiples of 1/factor^2).
    fractions = np.stack([cv2.resize((labels == value).astype(np.float32), (size, size),
                                     interpolation=cv2.INTER_AREA) for value in values])
    return values[np.argmax(fractions, axis=0)].astype(np.uint8)


def _downsample(canvas: np.ndarray, size: int) -> np.ndarray:
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def render_frame(spec: VideoSpec, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``frame`` of the video: (image uint8 [H, W, 3] RGB, mask uint8 [H, W])."""
    canvas = spec.background.copy()
    labels = spec.background_labels.copy()
    for obj in spec.objects:  # back to front
        pixels = _object_pixels(spec, obj, frame)
        if pixels is not None:
            rows, cols, colours = pixels
            canvas[rows, cols] = colours
            labels[rows, cols] = obj.label
    return (_downsample(canvas, spec.img_size),
            _majority(labels, spec.img_size, spec.supersampling))


def object_masks(spec: VideoSpec, frame: int) -> np.ndarray:
    """Where every object would be if nothing occluded it: bool [N, H, W], one per object in
    ``spec.objects`` order (back to front); a pixel is the object's if it covers more than half
    of the pixel's canvas pixels."""
    canvas = spec.img_size * spec.supersampling
    masks = np.zeros((len(spec.objects), spec.img_size, spec.img_size), bool)
    for number, obj in enumerate(spec.objects):
        pixels = _object_pixels(spec, obj, frame)
        if pixels is not None:
            cover = np.zeros((canvas, canvas), np.uint8)
            cover[pixels[0], pixels[1]] = 1
            blocks = cover.reshape(spec.img_size, spec.supersampling, spec.img_size,
                                   spec.supersampling)
            masks[number] = 2 * blocks.sum(axis=(1, 3)) > spec.supersampling ** 2
    return masks


def render_video(seed: int, index: int, num_frames: int = 24,
                 img_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The ``index``-th video: (frames uint8 [T, H, W, 3] RGB, masks uint8 [T, H, W])."""
    spec = sample_video(seed, index, num_frames, img_size)
    rendered = [render_frame(spec, frame) for frame in range(num_frames)]
    return (np.stack([image for image, _ in rendered]),
            np.stack([mask for _, mask in rendered]))


# --------------------------------------------------------------------------------------------
# Dataset on disk

def _meta(seed, train_videos, val_videos, test_videos, frames_per_video, img_size) -> dict:
    ids = split_video_ids(train_videos, val_videos, test_videos)
    videos = train_videos + val_videos + test_videos
    return {
        'generator': GENERATOR_NAME,
        'generator_version': GENERATOR_VERSION,
        'seed': seed,
        'train_videos': train_videos,
        'val_videos': val_videos,
        'test_videos': test_videos,
        'frames_per_video': frames_per_video,
        'img_size': img_size,
        'classes': list(CLASSES),
        'palette': [list(colour) for colour in PALETTE],
        'mask_values': {'0': 'others', **{str(value): name for value, name in
                                          enumerate(CLASSES, start=1)}, '255': 'ignore'},
        'reduce_zero_label': True,
        'counts': {'videos': videos, 'frames': videos * frames_per_video,
                   **{split: len(ids[split]) for split in SPLITS}},
        'split_files': {split: f'{split}.txt' for split in SPLITS},
        'image_template': IMAGE_TEMPLATE,
        'mask_template': MASK_TEMPLATE,
    }


def _dataset_is_complete(root: Path, meta: dict) -> bool:
    ids = split_video_ids(meta['train_videos'], meta['val_videos'], meta['test_videos'])
    for split in SPLITS:
        try:
            listed = (root / meta['split_files'][split]).read_text().splitlines()
        except OSError:
            return False
        if listed != ids[split]:
            return False
    videos = [video for split in SPLITS for video in ids[split]]
    return frames_written(root, videos, meta['frames_per_video'], image_path, mask_path)


def write_video(root, spec: VideoSpec) -> None:
    """Write one video's frames (JPEG) and masks (PNG) under ``root`` in the VSPW layout."""
    image_path(root, spec.video, 0).parent.mkdir(parents=True, exist_ok=True)
    mask_path(root, spec.video, 0).parent.mkdir(parents=True, exist_ok=True)
    for frame in range(spec.num_frames):
        image, mask = render_frame(spec, frame)
        path = image_path(root, spec.video, frame)
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise RuntimeError(f'OpenCV could not write {path}')
        path = mask_path(root, spec.video, frame)
        if not cv2.imwrite(str(path), mask):
            raise RuntimeError(f'OpenCV could not write {path}')


def write_dataset(root, train_videos: int = 96, val_videos: int = 24, test_videos: int = 24,
                  frames_per_video: int = 24, img_size: int = 64, seed: int = 0) -> dict:
    """Write the dataset under ``root`` (if not already there) and return its meta data.

    Defaults: 96 / 24 / 24 videos (train / val / test) of 24 frames at 64 x 64: 3456 frames.
    If ``root/meta.json`` equals the meta data of these arguments and every file is there,
    nothing is written.  Otherwise the dataset is built in ``<root>.tmp-<pid>`` and swapped in
    when complete; a non-empty ``root`` that this generator did not write is never replaced.
    """
    seed = bounded_int('seed', seed, 0)
    train_videos = bounded_int('train_videos', train_videos, 1, _MAX_VIDEOS)
    val_videos = bounded_int('val_videos', val_videos, 1, _MAX_VIDEOS)
    test_videos = bounded_int('test_videos', test_videos, 1, _MAX_VIDEOS)
    total = train_videos + val_videos + test_videos
    if total > _MAX_VIDEOS:
        raise ValueError(f'train_videos + val_videos + test_videos must be <= {_MAX_VIDEOS} '
                         f'(five-digit video ids), got {total}')
    frames_per_video = bounded_int('frames_per_video', frames_per_video, _MIN_FRAMES,
                                   _MAX_FRAMES)
    img_size = bounded_int('img_size', img_size, _MIN_SIZE, _MAX_SIZE)
    meta = _meta(seed, train_videos, val_videos, test_videos, frames_per_video, img_size)

    def write_files(staging):
        for index in range(total):
            write_video(staging, sample_video(seed, index, frames_per_video, img_size))
        ids = split_video_ids(train_videos, val_videos, test_videos)
        for split in SPLITS:
            (staging / meta['split_files'][split]).write_text('\n'.join(ids[split]) + '\n')
        return f'{total} videos x {frames_per_video} frames'

    return write_generated_dataset(root, meta, 'seg_clips',
                                   lambda root: _dataset_is_complete(root, meta), write_files)
