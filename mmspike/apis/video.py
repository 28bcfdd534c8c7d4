"""Video input of the inference functions: decoding with OpenCV one frame at a time
(:class:`VideoFrames`), a whole video or an array of frames as ``[T, H, W, 3]`` RGB uint8
(:func:`load_video`), and the square frame preprocessing (:func:`resize_and_crop`)."""
import os
import os.path as osp
import time
from typing import Iterator, Optional, Tuple, Union

import numpy as np

VideoType = Union[str, os.PathLike, np.ndarray]


def resize_and_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """A frame ``[H, W, 3]`` -> ``[size, size, 3]``: the shorter side resized to ``size`` (area
    interpolation when shrinking, bilinear when enlarging), then the centre ``size x size``
    crop.

    Args:
        rgb (np.ndarray): the frame, uint8.
        size (int): the output side.
    """
    import cv2
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_h = max(size, int(round(height * scale)))
    new_w = max(size, int(round(width * scale)))
    if (new_h, new_w) != (height, width):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(rgb[top:top + size, left:left + size])


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, or grayscale ``[H, W]``) as RGB ``[H, W, 3]``."""
    import cv2
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def preprocess_frame(bgr: np.ndarray, size: int) -> np.ndarray:
    """An OpenCV frame ``[H, W, 3]`` BGR uint8 -> ``[size, size, 3]`` RGB uint8
    (:func:`bgr_to_rgb`, then :func:`resize_and_crop`).

    Args:
        bgr (np.ndarray): the frame as ``cv2.VideoCapture.read`` returns it.
        size (int): the output side.
    """
    return resize_and_crop(bgr_to_rgb(bgr), size)


class VideoFrames:
    """The frames of a video file, decoded one at a time by ``cv2.VideoCapture``.

    Opening reads the first frame, so an unreadable, corrupt or empty file fails here, with a
    message naming it.  Iterating yields ``(frame BGR uint8, seconds spent decoding it)``; the
    frames can be iterated once.

    Args:
        path (str): the video file.
        max_frames (int, optional): stop after this many frames.
    """

    def __init__(self, path: Union[str, os.PathLike], max_frames: Optional[int] = None):
        import cv2
        path = os.fspath(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'video {path!r} does not exist')
        if max_frames is not None and max_frames < 1:
            raise ValueError(f'max_frames must be >= 1, got {max_frames}')
        self.path = path
        self.max_frames = max_frames
        start = time.perf_counter()
        self.capture = cv2.VideoCapture(path)
        if not self.capture.isOpened():
            self.capture.release()
            raise ValueError(f'cannot read video {path!r}: OpenCV could not open it (not a '
                             f'video, corrupt, or a codec OpenCV lacks)')
        ok, frame = self.capture.read()
        if not ok or frame is None:
            self.capture.release()
            raise ValueError(f'cannot read video {path!r}: OpenCV opened it but decoded no '
                             f'frame (empty or corrupt)')
        self.first_decode_s = time.perf_counter() - start
        self._first = (frame, self.first_decode_s)
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.num_frames = None if count <= 0 else (
            count if max_frames is None else min(count, max_frames))
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def __iter__(self) -> Iterator[Tuple[np.ndarray, float]]:
        try:
            if self._first is None:
                raise RuntimeError(f'the frames of {self.path!r} were already read')
            first, self._first = self._first, None
            yield first
            read = 1
            while self.max_frames is None or read < self.max_frames:
                start = time.perf_counter()
                ok, frame = self.capture.read()
                if not ok or frame is None:
                    break
                read += 1
                yield frame, time.perf_counter() - start
        finally:
            self.release()

    def release(self) -> None:
        self.capture.release()


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Return ``frames`` if it is a video as the inference functions take it, ``[T, H, W, 3]``
    RGB uint8 with at least one frame; else raise an error naming what it is."""
    if not isinstance(frames, np.ndarray):
        raise TypeError(f'a video must be a file path or a numpy array of frames [T, H, W, 3] '
                        f'(RGB uint8), got {type(frames).__name__}')
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'expected the frames of a video as an array [T, H, W, 3] (RGB uint8), '
                         f'got an array of shape {frames.shape}')
    if frames.dtype != np.uint8:
        raise ValueError(f'expected uint8 frames (RGB values 0-255), got dtype {frames.dtype}')
    if 0 in frames.shape:
        raise ValueError(f'the video is empty: frames of shape {frames.shape}')
    return frames


def load_video(video: VideoType, max_frames: Optional[int] = None) -> np.ndarray:
    """The frames of ``video`` as one array ``[T, H, W, 3]`` RGB uint8.

    Args:
        video (str | PathLike | np.ndarray): a video file (anything OpenCV decodes), a folder
            of frame images (:func:`load_frame_folder`) or the frames, ``[T, H, W, 3]`` RGB
            uint8.
        max_frames (int, optional): keep at most this many frames. Defaults to None (all).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded, or the array is not ``[T, H, W, 3]`` uint8
            with at least one frame.
        TypeError: ``video`` is neither a path nor an array.
    """
    if isinstance(video, (str, os.PathLike)) and osp.isdir(video):
        return check_frames(load_frame_folder(video, max_frames))
    if isinstance(video, (str, os.PathLike)):
        frames = [bgr_to_rgb(bgr) for bgr, _ in VideoFrames(video, max_frames)]
        return check_frames(np.stack(frames))
    frames = check_frames(video)
    return frames if max_frames is None else frames[:max_frames]


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def load_frame_folder(folder: Union[str, os.PathLike],
                      max_frames: Optional[int] = None) -> np.ndarray:
    """The images of ``folder`` (``IMAGE_SUFFIXES``, sorted by name; other files ignored) as
    frames ``[T, H, W, 3]`` RGB uint8.

    Raises:
        ValueError: the folder holds no image, an image cannot be decoded, or the images differ
            in size (each named).
    """
    import cv2
    folder = os.fspath(folder)
    names = sorted(name for name in os.listdir(folder)
                   if osp.splitext(name)[1].lower() in IMAGE_SUFFIXES)
    if not names:
        raise ValueError(f'frame folder {folder!r} holds no image ({", ".join(IMAGE_SUFFIXES)})')
    if max_frames is not None:
        names = names[:max_frames]
    frames = []
    for name in names:
        path = osp.join(folder, name)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f'cannot decode frame {path!r} (not an image, or corrupt)')
        if frames and bgr.shape != frames[0].shape:
            raise ValueError(f'frame {path!r} is {bgr.shape[1]}x{bgr.shape[0]}, the first frame '
                             f'of the folder {frames[0].shape[1]}x{frames[0].shape[0]}: the '
                             f'frames of a video must have one size')
        frames.append(bgr)
    return np.stack([bgr_to_rgb(bgr) for bgr in frames])


def video_fps(video: VideoType) -> Optional[float]:
    """Frames per second of a video file (None for a folder, an array, or a file that does not
    say)."""
    if not isinstance(video, (str, os.PathLike)) or not osp.isfile(video):
        return None
    import cv2
    capture = cv2.VideoCapture(os.fspath(video))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()
    return fps if fps > 0 else None
