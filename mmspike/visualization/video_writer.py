"""Writing RGB frames to an MP4 file as they come (:class:`Mp4Writer`), for every video
mmspike draws (annotated inference videos, skeleton videos of the pose hook)."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Tuple

import cv2
import numpy as np

__all__ = ['DEFAULT_FPS', 'Mp4Writer', 'rgb_frame']

#: frame rate of a written video when none is given (arrays, frame folders)
DEFAULT_FPS = 25.0


def rgb_frame(frame, name: str = 'frame_rgb') -> Optional[np.ndarray]:
    """An RGB uint8 [H, W, 3] image (grayscale [H, W] or [H, W, 1] is expanded), or None."""
    if frame is None:
        return None
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
        raise ValueError(f'{name} must be an RGB image [H, W, 3] (or grayscale [H, W]), got '
                         f'shape {frame.shape}')
    if frame.dtype != np.uint8:
        raise ValueError(f'{name} must be uint8 (0-255), got dtype {frame.dtype}')
    return frame


class Mp4Writer:
    """Writes RGB frames to an MP4 file (OpenCV, codec ``mp4v``) as they come.

    The frames go to ``<name>.part.mp4`` beside ``path``; :meth:`close` checks that the file
    reads back with as many frames as were written and renames it to ``path``.  On an error
    (or :meth:`abort`, or an exception in a ``with`` block) the partial file is removed, so a
    failed run leaves no half-written video and a file already at ``path`` is kept.  Every
    frame must have the size of the first; odd sizes are padded by one row / column (the
    codec needs even ones).

    Args:
        path (str | PathLike): the MP4 file to write (its folder is created).
        fps (float, optional): frames per second. Defaults to :data:`DEFAULT_FPS`.
    """

    def __init__(self, path, fps: Optional[float] = None):
        path = os.fspath(path)
        root, ext = osp.splitext(path)
        if ext.lower() != '.mp4':
            raise ValueError(f'the annotated video must be an .mp4 file, got {path!r}')
        if osp.isdir(path):
            raise ValueError(f'{path!r} is a folder, expected an .mp4 file name')
        fps = DEFAULT_FPS if fps is None or not fps > 0 else float(fps)
        if not np.isfinite(fps):
            raise ValueError(f'fps must be a positive number, got {fps}')
        self.path = path
        self.part = f'{root}.part{ext}'
        self.fps = fps
        self.count = 0
        self.size: Optional[Tuple[int, int]] = None  # (width, height) written
        self._writer = None
        self._closed = False

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame ``[H, W, 3]``."""
        if self._closed:
            raise RuntimeError(f'the writer of {self.path!r} is closed')
        frame = rgb_frame(frame_rgb)
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode='edge')
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
            writer = cv2.VideoWriter(self.part, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                                     size)
            if not writer.isOpened():
                writer.release()
                self._remove_part()
                raise OSError(
                    f'cannot write the video {self.path!r}: OpenCV could not open a writer '
                    f'(codec mp4v, {size[0]}x{size[1]}, {self.fps:g} fps) for '
                    f'{self.part!r}; check that the folder is writable and that this OpenCV '
                    f'build encodes MP4')
            self._writer, self.size = writer, size
        elif size != self.size:
            self.abort()
            raise ValueError(f'frame {self.count} is {size[0]}x{size[1]}, the video '
                             f'{self.path!r} is {self.size[0]}x{self.size[1]}: every frame '
                             f'must have the size of the first')
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.count += 1

    def close(self) -> str:
        """Finish the file, check it and move it to ``path``; return ``path``."""
        if self._closed:
            return self.path
        if self._writer is None:
            self.abort()
            raise ValueError(f'no frame was written to {self.path!r}')
        self._writer.release()
        self._writer = None
        capture = cv2.VideoCapture(self.part)
        try:
            read = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
        finally:
            capture.release()
        if read != self.count:
            self.abort()
            raise RuntimeError(f'the video written for {self.path!r} reads back with {read} '
                               f'frames, expected {self.count}')
        os.replace(self.part, self.path)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop and remove the partial file; ``path`` is left as it was."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._remove_part()
        self._closed = True

    def _remove_part(self) -> None:
        if osp.exists(self.part):
            os.remove(self.part)

    def __enter__(self) -> 'Mp4Writer':
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
