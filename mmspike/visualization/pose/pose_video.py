"""Draw predicted and ground-truth 3D skeletons next to the video frames they come from.

:func:`render_pose_frame` makes one RGB image: the input frame on the left, a 3D view on the
right with the ground-truth skeleton (green) and the predicted one (orange) from one fixed
viewpoint, titled with the frame's MPJPE in mm.  :func:`write_pose_video` renders a clip that
way into an MP4 file, with the 3D axis limits fixed over the clip so that the view does not jump.

Joints are in camera coordinates (x right, y down, z forward, metres), as MMHPSD's and mmspike's
pose clips are; the 3D view plots x to the right, depth z into the picture and -y up, so a
standing person is upright.  Only NumPy, OpenCV and Matplotlib (Agg canvas, no pyplot state) are
used: no task codebase is imported.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..video_writer import Mp4Writer
from ..video_writer import rgb_frame as _frame

__all__ = ['GT_COLOUR', 'PRED_COLOUR', 'edges_from_parents', 'per_frame_mpjpe',
           'render_pose_frame', 'write_pose_video']

#: RGB colour of the ground-truth skeleton
GT_COLOUR = (0, 170, 60)
#: RGB colour of the predicted skeleton
PRED_COLOUR = (240, 110, 0)

_Edges = List[Tuple[int, int]]


# --------------------------------------------------------------------------------------------
# checks
def _shape(x) -> tuple:
    return tuple(np.shape(x))


def _joints(name: str, value, ndim: int, num_joints: Optional[int] = None) -> np.ndarray:
    """``value`` as float64 [J, 3] (ndim 2) or [T, J, 3] (ndim 3), finite."""
    expected = '[J, 3]' if ndim == 2 else '[T, J, 3]'
    if hasattr(value, 'detach'):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f'{name} must be a numeric array {expected}, got '
                        f'{type(value).__name__}') from error
    if array.ndim != ndim or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(f'{name} must have shape {expected} (joints in metres), got '
                         f'{array.shape}')
    if num_joints is not None and array.shape[-2] != num_joints:
        raise ValueError(f'{name} has {array.shape[-2]} joints, expected {num_joints} (as the '
                         f'other skeleton)')
    if not np.isfinite(array).all():
        raise ValueError(f'{name} has non-finite values (NaN or inf)')
    return array


def edges_from_parents(parents: Sequence[int], num_joints: Optional[int] = None) -> _Edges:
    """Bones ``(parent, child)`` of a kinematic tree given as each joint's parent (-1 for a
    root), e.g. SMPL's ``(-1, 0, 0, 0, 1, ...)``."""
    try:
        parents = [int(p) for p in parents]
    except (TypeError, ValueError) as error:
        raise TypeError(f'parents must be a sequence of ints (-1 for a root), got '
                        f'{parents!r}') from error
    if num_joints is not None and len(parents) != num_joints:
        raise ValueError(f'parents has {len(parents)} entries, expected {num_joints} (one per '
                         f'joint of the skeletons)')
    for child, parent in enumerate(parents):
        if parent != -1 and not 0 <= parent < len(parents) or parent == child:
            raise ValueError(f'parents[{child}] = {parent} is not -1 or another joint index in '
                             f'[0, {len(parents)})')
    return [(parent, child) for child, parent in enumerate(parents) if parent >= 0]


def _check_edges(edges, num_joints: int) -> _Edges:
    checked = []
    for edge in edges:
        try:
            a, b = (int(v) for v in edge)
        except (TypeError, ValueError) as error:
            raise ValueError(f'an edge must be a pair of joint indices, got {edge!r}') from error
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            raise ValueError(f'edge {edge!r} names a joint outside [0, {num_joints})')
        checked.append((a, b))
    return checked


def _skeleton(parents, edges, num_joints: int) -> _Edges:
    if (parents is None) == (edges is None):
        raise ValueError('give exactly one of parents (each joint\'s parent, -1 for a root) '
                         'and edges ((a, b) joint pairs)')
    if parents is not None:
        return edges_from_parents(parents, num_joints)
    return _check_edges(edges, num_joints)


def per_frame_mpjpe(pred, gt) -> np.ndarray:
    """Mean per-joint position error of every frame, in mm, for [T, J, 3] or [J, 3] joints in
    metres (no alignment: both are taken as they are, e.g. root-relative)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'pred and gt must have the same shape, got {pred.shape} and '
                         f'{gt.shape}')
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=-1) * 1000.0


# --------------------------------------------------------------------------------------------
# drawing
def _to_view(joints: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) -> plot axes (x right, z depth, -y up)."""
    return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)


def _limits(*skeletons) -> np.ndarray:
    """Cube [3, 2] (plot axes) holding every joint of the given arrays, with a 10 % margin."""
    points = np.concatenate([_to_view(s).reshape(-1, 3) for s in skeletons if s is not None])
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    half = max(float((high - low).max()) / 2 * 1.1, 0.05)
    return np.stack([centre - half, centre + half], axis=1)


class _PoseCanvas:
    """A Matplotlib 3D axes on an Agg canvas, drawn again for every frame (kept for a clip)."""

    def __init__(self, size: int, elev: float, azim: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        dpi = 100
        self.size, self.elev, self.azim = size, elev, azim
        self.figure = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot(projection='3d')
        self.figure.subplots_adjust(left=0.0, right=1.0, bottom=0.02, top=0.88)

    def draw(self, pred, gt, edges: _Edges, limits: np.ndarray, title: str) -> np.ndarray:
        from matplotlib.lines import Line2D
        ax = self.axes
        ax.cla()
        handles = []
        for joints, colour, label in ((gt, GT_COLOUR, 'ground truth'),
                                      (pred, PRED_COLOUR, 'prediction')):
            if joints is None:
                continue
            rgb = tuple(c / 255 for c in colour)
            view = _to_view(joints)
            for a, b in edges:
                ax.plot(view[[a, b], 0], view[[a, b], 1], view[[a, b], 2], '-', color=rgb,
                        linewidth=3.0, solid_capstyle='round')
            ax.scatter(view[:, 0], view[:, 1], view[:, 2], color=rgb, s=10, depthshade=False)
            handles.append(Line2D([], [], color=rgb, linewidth=3.0, label=label))
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
        ax.set_zlim(*limits[2])
        ax.set_box_aspect((1, 1, 1), zoom=1.15)
        ax.view_init(elev=self.elev, azim=self.azim)
        ax.set_xlabel('x (m)', fontsize=8, labelpad=-6)
        ax.set_ylabel('depth z (m)', fontsize=8, labelpad=-6)
        ax.set_zlabel('up -y (m)', fontsize=8, labelpad=-6)
        ax.tick_params(labelsize=6, pad=-2)
        ax.legend(handles=handles, loc='upper left', fontsize=8, framealpha=0.8)
        ax.set_title(title, fontsize=10)
        self.canvas.draw()
        image = np.asarray(self.canvas.buffer_rgba())[..., :3]
        if image.shape[:2] != (self.size, self.size):  # rounding of the figure size in inches
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(image)

    def close(self):
        self.figure.clear()


def _frame_panel(frame: Optional[np.ndarray], height: int, width: Optional[int] = None,
                 label: Optional[str] = None) -> np.ndarray:
    """``frame`` scaled to ``height`` (and ``width`` if given, else keeping its aspect ratio,
    rounded to an even width), or a grey panel; ``label`` written in its top-left corner."""
    if frame is None:
        panel = np.full((height, width or height, 3), 96, np.uint8)
    else:
        h, w = frame.shape[:2]
        if width is None:
            width = max(2, int(round(w * height / h / 2)) * 2)
        shrink = width * height < w * h
        panel = cv2.resize(frame, (width, height),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if label:
        panel = np.ascontiguousarray(panel)
        for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(panel, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness,
                        cv2.LINE_AA)
    return panel


def _title(heading: Optional[str], error_mm: Optional[float]) -> str:
    lines = [heading] if heading else []
    lines.append(f'MPJPE {error_mm:.1f} mm' if error_mm is not None else 'no ground truth')
    return '\n'.join(lines)


def render_pose_frame(frame_rgb, pred, gt, parents: Optional[Sequence[int]] = None, *,
                      edges: Optional[Sequence[Tuple[int, int]]] = None,
                      limits: Optional[np.ndarray] = None,
                      title: Optional[str] = None,
                      frame_label: Optional[str] = None,
                      panel_size: int = 480,
                      elev: float = 12.0,
                      azim: float = -70.0,
                      _canvas: Optional[_PoseCanvas] = None,
                      _frame_width: Optional[int] = None) -> np.ndarray:
    """One image: ``frame_rgb`` on the left, the 3D skeletons ``gt`` (green) and ``pred``
    (orange) on the right, titled with ``title`` and the frame's MPJPE (mm).

    Args:
        frame_rgb (np.ndarray | None): the input frame, RGB uint8 [H, W, 3] or grayscale
            [H, W]; scaled to ``panel_size`` high.  None draws a grey panel.
        pred (array): predicted joints [J, 3], camera coordinates, metres.
        gt (array | None): ground-truth joints [J, 3]; None draws the prediction alone.
        parents (Sequence[int]): each joint's parent (-1 for a root), J entries; or give
            ``edges`` instead: (a, b) joint pairs to join.
        limits (np.ndarray, optional): axis limits [3, 2] of the 3D view, in its axes (x, depth
            z, up -y); default: a cube around this frame's joints.  :func:`write_pose_video`
            passes one cube for the whole clip.
        title (str, optional): first title line, above the MPJPE.
        frame_label (str, optional): text written on the frame (e.g. ``'frame 12'``).
        panel_size (int): height of the image and side of the 3D view, pixels.
        elev, azim (float): Matplotlib view angles of the 3D view, degrees.

    Returns:
        np.ndarray: RGB uint8 [panel_size, frame width + panel_size, 3].
    """
    pred = _joints('pred', pred, ndim=2)
    num_joints = pred.shape[0]
    if gt is not None:
        gt = _joints('gt', gt, ndim=2, num_joints=num_joints)
    edge_list = _skeleton(parents, edges, num_joints)
    frame = _frame(frame_rgb)
    if isinstance(panel_size, bool) or not isinstance(panel_size, (int, np.integer)) \
            or panel_size < 64:
        raise ValueError(f'panel_size must be an int >= 64, got {panel_size!r}')
    if limits is None:
        limits = _limits(pred, gt)
    limits = np.asarray(limits, np.float64)
    if limits.shape != (3, 2):
        raise ValueError(f'limits must have shape (3, 2), got {limits.shape}')
    error = float(per_frame_mpjpe(pred, gt)) if gt is not None else None

    canvas = _canvas or _PoseCanvas(int(panel_size), elev, azim)
    try:
        view = canvas.draw(pred, gt, edge_list, limits, _title(title, error))
    finally:
        if _canvas is None:
            canvas.close()
    left = _frame_panel(frame, view.shape[0], _frame_width, frame_label)
    return np.concatenate([left, view], axis=1)


def write_pose_video(path, frames, pred, gt, parents: Optional[Sequence[int]] = None, *,
                     edges: Optional[Sequence[Tuple[int, int]]] = None,
                     fps: float = 8.0,
                     title: Optional[str] = None,
                     frame_labels: Optional[Sequence[str]] = None,
                     panel_size: int = 480,
                     elev: float = 12.0,
                     azim: float = -70.0) -> str:
    """Render a clip with :func:`render_pose_frame` into an MP4 file (OpenCV, codec ``mp4v``).

    The 3D view's limits are one cube around every joint of ``pred`` and ``gt`` over the whole
    clip.  The file is read back with OpenCV and must hold ``T`` frames.

    Args:
        path (str): the output file (its directory is created).
        frames (Sequence[np.ndarray] | np.ndarray | None): the T input frames (RGB uint8
            [H, W, 3] or grayscale), e.g. an array [T, H, W, 3]; None for grey panels.  Every
            frame is scaled to the size of the first.
        pred (array): predicted joints [T, J, 3], metres.
        gt (array | None): ground truth [T, J, 3], or None.
        parents / edges: the skeleton, as :func:`render_pose_frame`.
        fps (float): frame rate of the video. Defaults to 8.
        title (str, optional): first title line of every frame (e.g. the action).
        frame_labels (Sequence[str], optional): T texts written on the frames; default
            ``'frame t/T'``.
        panel_size, elev, azim: as :func:`render_pose_frame`.

    Returns:
        str: ``path``.

    Raises:
        ValueError: on shapes that do not fit (the message names expected and actual ones).
        OSError: OpenCV cannot open the video writer (:class:`~mmspike.visualization.
            video_writer.Mp4Writer`, which writes a temporary file renamed at the end).
        RuntimeError: the written file does not read back with T frames.
    """
    pred = _joints('pred', pred, ndim=3)
    num_frames, num_joints = pred.shape[:2]
    if gt is not None:
        gt = _joints('gt', gt, ndim=3, num_joints=num_joints)
        if gt.shape[0] != num_frames:
            raise ValueError(f'gt has {gt.shape[0]} frames, pred has {num_frames}: both must be '
                             f'[T, J, 3] with the same T')
    edge_list = _skeleton(parents, edges, num_joints)
    if frames is not None:
        if len(frames) != num_frames:
            raise ValueError(f'frames has {len(frames)} images, expected {num_frames} (T of '
                             f'pred [T, J, 3])')
        frames = [_frame(f, f'frames[{t}]') for t, f in enumerate(frames)]
    if frame_labels is None:
        frame_labels = [f'frame {t + 1}/{num_frames}' for t in range(num_frames)]
    elif len(frame_labels) != num_frames:
        raise ValueError(f'frame_labels has {len(frame_labels)} entries, expected {num_frames}')
    if not (isinstance(fps, (int, float, np.integer, np.floating)) and fps > 0):
        raise ValueError(f'fps must be a positive number, got {fps!r}')

    limits = _limits(pred, gt)
    frame_width = None
    if frames is not None:  # every panel as wide as the first frame's scaled to panel_size
        h, w = frames[0].shape[:2]
        frame_width = max(2, int(round(w * panel_size / h / 2)) * 2)
    path = str(path)

    canvas = _PoseCanvas(int(panel_size), elev, azim)
    try:
        with Mp4Writer(path, float(fps)) as writer:
            for t in range(num_frames):
                writer.write(render_pose_frame(
                    None if frames is None else frames[t], pred[t],
                    None if gt is None else gt[t], edges=edge_list, limits=limits, title=title,
                    frame_label=frame_labels[t], panel_size=panel_size, elev=elev,
                    azim=azim, _canvas=canvas, _frame_width=frame_width))
    finally:
        canvas.close()
    return path
