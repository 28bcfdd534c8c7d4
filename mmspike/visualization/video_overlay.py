"""Annotated frames of a video result (:class:`mmspike.apis.video_inference.VideoResult`) and
an MP4 writer.

One drawing function per task, each taking an RGB frame, the result and the frame's index:

* :func:`draw_action_frame`: a banner above the frame with the running label and its score,
  the frame's energy and the best class of the whole video;
* :func:`draw_pose_frame`: the frame beside a 3D view of that frame's predicted skeleton
  (the renderer of :mod:`mmspike.visualization.pose.pose_video`);
* :func:`draw_seg_frame`: the class map blended over the frame in the palette's colours, with
  a legend of the classes present.

:class:`FrameAnnotator` picks the function of the result's task and keeps what is shared by
the frames (the 3D canvas and axis limits); :class:`Mp4Writer` writes frames as they come to a
temporary file renamed over the output only when every frame is written and read back, and
:func:`write_annotated_video` combines both.  Small frames are enlarged to ``min_height``
pixels first so that the text stays legible.  NumPy, OpenCV and Matplotlib only: no task
codebase is imported.
"""
from __future__ import annotations

from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .pose.pose_video import (_frame, _frame_panel, _joints, _limits, _PoseCanvas,
                              edges_from_parents)
from .video_writer import DEFAULT_FPS, Mp4Writer

__all__ = ['DEFAULT_FPS', 'MIN_HEIGHT', 'FrameAnnotator', 'Mp4Writer', 'annotated_frames',
           'default_palette', 'display_frame', 'draw_action_frame', 'draw_pose_frame',
           'draw_seg_frame', 'format_energy', 'pose_limits', 'write_annotated_video']

#: frames lower than this are enlarged before text is drawn on them
MIN_HEIGHT = 240
#: background of the action banner and of the segmentation legend (RGB)
BANNER_COLOUR = (24, 24, 24)
#: colour of the running label in the action banner (RGB)
LABEL_COLOUR = (255, 210, 40)

_FONT = cv2.FONT_HERSHEY_SIMPLEX


# --------------------------------------------------------------------------------------------
# small helpers
def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _check_index(result, index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f'index must be an int, got {type(index).__name__}')
    if not 0 <= index < result.num_frames:
        raise IndexError(f'frame {index} of a result of {result.num_frames} frames')
    return int(index)


def _check_task(result, task: str, function: str) -> None:
    if getattr(result, 'task', None) != task:
        raise ValueError(f'{function} draws a {task!r} result, got task '
                         f'{getattr(result, "task", None)!r}')


def _class_name(result, label: int) -> str:
    names = result.class_names
    return str(names[label]) if names and 0 <= label < len(names) else str(label)


def format_energy(energy_mj: float) -> str:
    """``'energy 0.0123 mJ'`` (three significant digits), or ``'energy not counted'`` for
    NaN."""
    energy_mj = float(energy_mj)
    if not np.isfinite(energy_mj):
        return 'energy not counted'
    return f'energy {energy_mj:.3g} mJ'


def _fit_text(text: str, width: int, scale: float, thickness: int = 1) -> str:
    """``text``, cut and ended with ``'...'`` if wider than ``width`` pixels."""
    text = text.encode('ascii', 'replace').decode('ascii')  # Hershey fonts are ASCII
    if cv2.getTextSize(text, _FONT, scale, thickness)[0][0] <= width:
        return text
    while text and cv2.getTextSize(text + '...', _FONT, scale, thickness)[0][0] > width:
        text = text[:-1]
    return text + '...'


def display_frame(frame, min_height: int = MIN_HEIGHT,
                  interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``frame`` (RGB uint8 ``[H, W, 3]``, or grayscale) enlarged to ``min_height`` rows (the
    width following, rounded to an even number) if it is lower; else as it is.

    Args:
        frame (np.ndarray): the frame.
        min_height (int): the lowest frame kept as it is. Defaults to :data:`MIN_HEIGHT`.
        interpolation (int): OpenCV interpolation of the enlargement (``cv2.INTER_NEAREST``
            for label maps). Defaults to ``cv2.INTER_LINEAR``.
    """
    frame = _frame(frame)
    if frame is None:
        raise ValueError('frame must be an RGB image [H, W, 3], got None')
    height, width = frame.shape[:2]
    if height >= min_height:
        return np.ascontiguousarray(frame)
    size = (_even(width * min_height / height), int(min_height))
    return cv2.resize(frame, size, interpolation=interpolation)


# --------------------------------------------------------------------------------------------
# action recognition
def _banner_lines(result, index: int) -> List[Tuple[str, Tuple[int, int, int]]]:
    if result.frame_labels is not None:
        label = int(result.frame_labels[index])
        line = _class_name(result, label)
        if result.frame_scores is not None:
            line += f' {float(result.frame_scores[index]):.3f}'
    else:
        line = 'no running label'
    lines = [(line, LABEL_COLOUR),
             (f'frame {index + 1}/{result.num_frames}  '
              f'{format_energy(result.energy_mj[index])}', (255, 255, 255))]
    if result.scores is not None and len(result.scores):
        best = int(np.argmax(result.scores))
        lines.append((f'video: {_class_name(result, best)} {float(result.scores[best]):.3f}',
                      (200, 200, 200)))
    return lines


def draw_action_frame(frame, result, index: int, *,
                      min_height: int = MIN_HEIGHT) -> np.ndarray:
    """The frame below a banner: the running label of the frame and its score (first line),
    the frame's number and energy (second) and the best class of the whole video with its
    score (third, when the result has video scores).

    Args:
        frame (np.ndarray): the video frame, RGB uint8 ``[H, W, 3]``.
        result (VideoResult): an action result.
        index (int): the frame's index in the video.
        min_height (int): lower frames are enlarged to this height first.

    Returns:
        np.ndarray: RGB uint8 ``[banner + H', W', 3]``: the (enlarged) frame unchanged under a
        banner as wide as it, whose height depends on the frame width only.
    """
    _check_task(result, 'action', 'draw_action_frame')
    index = _check_index(result, index)
    image = display_frame(frame, min_height)
    width = image.shape[1]
    scale = float(np.clip(width / 640, 0.4, 0.9))
    line_height = int(round(30 * scale)) + 4
    lines = _banner_lines(result, index)
    banner = np.empty((_even(line_height * 3 + 8), width, 3), np.uint8)
    banner[:] = BANNER_COLOUR
    for row, (text, colour) in enumerate(lines):
        line_scale = scale * (1.2 if row == 0 else 1.0)
        text = _fit_text(text, width - 12, line_scale, 2 if row == 0 else 1)
        cv2.putText(banner, text, (6, line_height * (row + 1) - 2), _FONT, line_scale, colour,
                    2 if row == 0 else 1, cv2.LINE_AA)
    return np.concatenate([banner, image], axis=0)


# --------------------------------------------------------------------------------------------
# segmentation
def default_palette(num_classes: int, seed: int = 0) -> List[Tuple[int, int, int]]:
    """``num_classes`` distinct RGB colours (a fixed random draw), for results without one."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, size=(max(int(num_classes), 1), 3))
    return [tuple(int(c) for c in colour) for colour in colours]


def _palette_array(result, class_map: np.ndarray) -> np.ndarray:
    palette = result.palette
    if palette is None:
        count = len(result.class_names) if result.class_names else int(class_map.max()) + 1
        palette = default_palette(count)
    palette = np.asarray(palette, dtype=np.int64)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f'palette must be one RGB colour per class [C, 3], got shape '
                         f'{palette.shape}')
    return palette.clip(0, 255).astype(np.uint8)


def _legend(image: np.ndarray, entries: List[Tuple[str, float, Tuple[int, int, int]]]) -> None:
    """Colour swatch, name and pixel share of every entry, in a dark box at the top left
    (in place); rows that do not fit are counted in a last ``+N more`` row."""
    height, width = image.shape[:2]
    scale = float(np.clip(height / 600, 0.35, 0.6))
    row = int(round(26 * scale)) + 4
    swatch = row - 6
    rows = max(1, (height - 8) // row)
    shown = entries if len(entries) <= rows else entries[:rows - 1]
    texts = [_fit_text(f'{name} {share * 100:.0f}%', width // 2, scale)
             for name, share, _ in shown]
    if len(shown) < len(entries):
        texts.append(f'+{len(entries) - len(shown)} more')
    text_width = max(cv2.getTextSize(t, _FONT, scale, 1)[0][0] for t in texts)
    box_w = min(width, swatch + text_width + 16)
    box_h = min(height, row * len(texts) + 6)
    region = image[:box_h, :box_w]
    region[:] = (region.astype(np.float32) * 0.35 + np.float32(BANNER_COLOUR) * 0.65).astype(
        np.uint8)
    for i, text in enumerate(texts):
        top = 4 + i * row
        if i < len(shown):
            colour = tuple(int(c) for c in shown[i][2])
            cv2.rectangle(image, (4, top), (4 + swatch, top + swatch), colour, -1)
            cv2.rectangle(image, (4, top), (4 + swatch, top + swatch), (255, 255, 255), 1)
        cv2.putText(image, text, (swatch + 10, top + swatch - 1), _FONT, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)


def draw_seg_frame(frame, result, index: int, *, alpha: float = 0.5,
                   min_height: int = MIN_HEIGHT, legend: bool = True) -> np.ndarray:
    """The frame with its class map blended over it: every pixel of class ``c`` becomes
    ``(1 - alpha) * frame + alpha * palette[c]`` (labels outside the palette, e.g. an ignore
    index, are left as they are), and a legend of the classes present, largest first.

    Args:
        frame (np.ndarray): the video frame, RGB uint8 ``[H, W, 3]``.
        result (VideoResult): a segmentation result (``class_maps`` ``[T, H, W]``; a map of
            another size is scaled to the frame's, nearest neighbour).
        index (int): the frame's index in the video.
        alpha (float): opacity of the colours, in [0, 1]. Defaults to 0.5.
        min_height (int): lower frames (and their maps) are enlarged to this height first.
        legend (bool): draw the legend. Defaults to True.

    Returns:
        np.ndarray: RGB uint8 ``[H', W', 3]``, the size of the (enlarged) frame.
    """
    _check_task(result, 'seg', 'draw_seg_frame')
    index = _check_index(result, index)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    frame = _frame(frame)
    class_map = np.asarray(result.class_maps[index])
    if class_map.ndim != 2:
        raise ValueError(f'class_maps[{index}] must be a map [H, W], got shape '
                         f'{class_map.shape}')
    image = display_frame(frame, min_height)
    size = (image.shape[1], image.shape[0])
    if class_map.shape != image.shape[:2]:
        class_map = cv2.resize(class_map.astype(np.int32), size,
                               interpolation=cv2.INTER_NEAREST)
    class_map = class_map.astype(np.int64)
    palette = _palette_array(result, class_map)
    valid = (class_map >= 0) & (class_map < len(palette))
    colours = palette[np.where(valid, class_map, 0)]
    blended = image.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
    image = np.where(valid[..., None], np.round(blended).clip(0, 255).astype(np.uint8), image)
    if legend and valid.any():
        counts = np.bincount(class_map[valid].reshape(-1), minlength=len(palette))
        order = [int(c) for c in np.argsort(-counts, kind='stable') if counts[c]]
        _legend(image, [(_class_name(result, c), counts[c] / class_map.size, palette[c])
                        for c in order])
    return np.ascontiguousarray(image)


# --------------------------------------------------------------------------------------------
# 3D pose
def pose_limits(result) -> np.ndarray:
    """Axis limits ``[3, 2]`` of the 3D view holding every joint of the pose result over the
    whole video (so that the view does not jump from frame to frame)."""
    _check_task(result, 'pose', 'pose_limits')
    return _limits(_joints('joints', result.joints, ndim=3))


def draw_pose_frame(frame, result, index: int, *, limits: Optional[np.ndarray] = None,
                    panel_size: int = 360, elev: float = 12.0, azim: float = -70.0,
                    _canvas: Optional[_PoseCanvas] = None) -> np.ndarray:
    """The frame (scaled to ``panel_size`` rows) beside a 3D view of the frame's predicted
    skeleton (orange), titled with the frame number and its energy.

    Args:
        frame (np.ndarray | None): the video frame, RGB uint8 ``[H, W, 3]``; None draws a grey
            panel.
        result (VideoResult): a pose result (``joints`` ``[T, J, 3]``, ``parents``).
        index (int): the frame's index in the video.
        limits (np.ndarray, optional): axis limits ``[3, 2]`` of the 3D view; default
            :func:`pose_limits` of the result.
        panel_size (int): height of the image and side of the 3D view. Defaults to 360.
        elev, azim (float): view angles of the 3D view, degrees.

    Returns:
        np.ndarray: RGB uint8 ``[panel_size, W' + panel_size, 3]``, ``W'`` the frame's width
        scaled to ``panel_size`` rows (even).
    """
    _check_task(result, 'pose', 'draw_pose_frame')
    index = _check_index(result, index)
    if result.joints is None or result.parents is None:
        raise ValueError('a pose result needs joints [T, J, 3] and parents to be drawn')
    joints = _joints(f'joints[{index}]', result.joints[index], ndim=2)
    edges = edges_from_parents(result.parents, joints.shape[0])
    frame = _frame(frame)
    if isinstance(panel_size, bool) or not isinstance(panel_size, (int, np.integer)) \
            or panel_size < 64:
        raise ValueError(f'panel_size must be an int >= 64, got {panel_size!r}')
    if limits is None:
        limits = pose_limits(result)
    title = (f'frame {index + 1}/{result.num_frames}\n'
             f'{format_energy(result.energy_mj[index])}')
    canvas = _canvas or _PoseCanvas(int(panel_size), elev, azim)
    try:
        view = canvas.draw(joints, None, edges, np.asarray(limits, np.float64), title)
    finally:
        if _canvas is None:
            canvas.close()
    left = _frame_panel(frame, view.shape[0])
    return np.concatenate([left, view], axis=1)


# --------------------------------------------------------------------------------------------
# a whole video
class FrameAnnotator:
    """Draws the frames of one result with its task's function; keeps the 3D canvas and axis
    limits of a pose result for all frames.  Call it with ``(frame, index)``; :meth:`close`
    (or a ``with`` block) frees the canvas.

    Args:
        result (VideoResult): the result to draw.
        alpha (float): segmentation: opacity of the class colours. Defaults to 0.5.
        min_height (int): action and segmentation: lower frames are enlarged to this height.
        panel_size (int): pose: height of the image and side of the 3D view. Defaults to 360.
    """

    def __init__(self, result, *, alpha: float = 0.5, min_height: int = MIN_HEIGHT,
                 panel_size: int = 360):
        self.result = result
        self.alpha = alpha
        self.min_height = min_height
        self.panel_size = panel_size
        self._canvas = None
        self._limits = None
        if result.task == 'pose':
            self._limits = pose_limits(result)
            self._canvas = _PoseCanvas(int(panel_size), 12.0, -70.0)

    def __call__(self, frame, index: int) -> np.ndarray:
        task = self.result.task
        if task == 'action':
            return draw_action_frame(frame, self.result, index, min_height=self.min_height)
        if task == 'seg':
            return draw_seg_frame(frame, self.result, index, alpha=self.alpha,
                                  min_height=self.min_height)
        return draw_pose_frame(frame, self.result, index, limits=self._limits,
                               panel_size=self.panel_size, _canvas=self._canvas)

    def close(self) -> None:
        if self._canvas is not None:
            self._canvas.close()
            self._canvas = None

    def __enter__(self) -> 'FrameAnnotator':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _check_frames(frames, result) -> None:
    count = len(frames)
    if count != result.num_frames:
        raise ValueError(f'{count} frames given for a result of {result.num_frames} frames: '
                         f'draw the frames the result was computed on')


def annotated_frames(frames: Sequence[np.ndarray], result, **kwargs) -> Iterator[np.ndarray]:
    """The annotated frames of ``result``, one at a time.

    Args:
        frames (Sequence[np.ndarray]): the ``result.num_frames`` video frames (e.g. an array
            ``[T, H, W, 3]`` RGB uint8).
        result (VideoResult): the result.
        **kwargs: options of :class:`FrameAnnotator`.
    """
    _check_frames(frames, result)
    with FrameAnnotator(result, **kwargs) as annotate:
        for index, frame in enumerate(frames):
            yield annotate(frame, index)


def write_annotated_video(path, frames: Sequence[np.ndarray], result, *,
                          fps: Optional[float] = None,
                          on_frame: Optional[Callable[[int, np.ndarray], None]] = None,
                          **kwargs) -> str:
    """Draw every frame of ``result`` (:class:`FrameAnnotator`) and write them to the MP4
    ``path`` as they are drawn (:class:`Mp4Writer`: nothing is left at ``path`` on an error).

    Args:
        path (str | PathLike): the MP4 file.
        frames (Sequence[np.ndarray]): the ``result.num_frames`` frames, RGB uint8.
        result (VideoResult): the result.
        fps (float, optional): frame rate; default ``result.fps``, else :data:`DEFAULT_FPS`.
        on_frame (callable, optional): called with ``(index, annotated frame)`` after each
            frame is written (progress, keeping the frames).
        **kwargs: options of :class:`FrameAnnotator`.

    Returns:
        str: ``path``.
    """
    writer = Mp4Writer(path, fps if fps is not None else result.fps)
    with writer:
        for index, image in enumerate(annotated_frames(frames, result, **kwargs)):
            writer.write(image)
            if on_frame is not None:
                on_frame(index, image)
    return writer.path
