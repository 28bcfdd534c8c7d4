"""Videos -> event files (``.npz``, :mod:`mmspike.datasets.events`) with the log-intensity
change model of :mod:`mmspike.datasets.synthetic.event_sim`; ``tools/data/video_to_events.py``
is the command line over it.

:func:`read_video` decodes a video (or loads a ``.npy`` frame array), :func:`convert_file`
converts one file (each with its own seed, from the run's seed and its relative path,
:func:`file_seed`, so a conversion does not depend on the order of the inputs) and can write a
preview (:func:`write_preview`); :func:`collect_jobs` lists the files of the inputs, or of
MMAction2 annotation lists whose event lists (:func:`list_name`) are written beside the events.
"""
import os
import os.path as osp
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')
ARRAY_SUFFIXES = ('.npy', )


class VideoReadError(ValueError):
    """A video (or frame array) that cannot be turned into events; the message names it."""


def read_video(path: str, resize: Optional[Sequence[int]] = None,
               max_frames: Optional[int] = None) -> Tuple[np.ndarray, Optional[float]]:
    """Decode a video with OpenCV (or load a ``.npy`` frame array).

    Args:
        path (str): the file.
        resize (Sequence[int], optional): output ``(w, h)``. Defaults to None (keep the size).
        max_frames (int, optional): read at most this many frames. Defaults to None (all).

    Returns:
        tuple: frames (``(T, H, W, 3)`` uint8 RGB, or the array as stored), and the frame
        rate the container declares (None for arrays or when it declares none).
    """
    path = str(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'video {path!r} does not exist')
    if osp.getsize(path) == 0:
        raise VideoReadError(f'{path}: empty file (0 bytes)')
    import cv2
    if path.lower().endswith(ARRAY_SUFFIXES):
        try:
            frames = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise VideoReadError(f'{path}: not a readable .npy frame array ({exc})') from exc
        if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[-1] != 3):
            raise VideoReadError(f'{path}: frame arrays must be (T, H, W) or (T, H, W, 3), got '
                                 f'shape {frames.shape}')
        fps = None
        frames = frames[:max_frames] if max_frames else frames
        if resize is not None:
            frames = np.stack([cv2.resize(f, tuple(resize), interpolation=cv2.INTER_AREA)
                               for f in frames]) if len(frames) else frames
    else:
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise VideoReadError(f'{path}: OpenCV cannot open it as a video (not a video, '
                                 f'corrupt, or a codec this OpenCV build lacks)')
        try:
            fps = capture.get(cv2.CAP_PROP_FPS) or None
            decoded = []
            while max_frames is None or len(decoded) < max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                if resize is not None:
                    frame = cv2.resize(frame, tuple(resize), interpolation=cv2.INTER_AREA)
                decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        finally:
            capture.release()
        frames = np.stack(decoded) if decoded else np.zeros((0, 0, 0, 3), np.uint8)
    if len(frames) < 2:
        raise VideoReadError(f'{path}: {len(frames)} decodable frame(s); events need at least '
                             f'2 (expected a non-empty video)')
    return frames, fps


def file_seed(seed: int, relative: str) -> int:
    """The seed of one file: a function of ``seed`` and its relative path only."""
    sequence = np.random.SeedSequence([int(seed), zlib.crc32(relative.encode())])
    return int(sequence.generate_state(1)[0])


def event_image(events: dict, start_us: float, end_us: float, height: int,
                width: int) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of the events in ``[start_us, end_us)``: white where none fired,
    red for ON, blue for OFF, the colour's strength the count over its 99th percentile."""
    keep = (events['t'] >= start_us) & (events['t'] < end_us)
    counts = np.zeros((2, height, width), np.float64)
    np.add.at(counts, (events['p'][keep].astype(np.int64), events['y'][keep].astype(np.int64),
                       events['x'][keep].astype(np.int64)), 1.0)
    nonzero = counts[counts > 0]
    scale = np.percentile(nonzero, 99) if nonzero.size else 1.0
    off, on = np.minimum(counts / scale, 1.0)
    image = np.full((height, width, 3), 255.0)
    image[..., 1] -= 255.0 * np.maximum(on, off)  # green fades for both polarities
    image[..., 2] -= 255.0 * on                   # ON: red stays
    image[..., 0] -= 255.0 * off                  # OFF: blue stays
    return np.clip(image, 0, 255).astype(np.uint8)


def write_preview(path: str, frames: np.ndarray, events: dict, fps: float, shown: int) -> None:
    """The PNG of ``--preview``: ``shown`` frames over the events that lead up to each."""
    import cv2
    indices = np.linspace(1, len(frames) - 1, min(shown, len(frames) - 1)).round().astype(int)
    height, width = events['height'], events['width']
    times = np.arange(len(frames)) * (1e6 / fps)
    top, bottom = [], []
    for index in indices:
        frame = frames[index]
        frame = np.repeat(frame[..., None], 3, -1) if frame.ndim == 2 else frame
        top.append(frame.astype(np.uint8))
        bottom.append(event_image(events, times[index - 1], times[index] + 0.5, height, width))
    sheet = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    cv2.imwrite(path, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def convert_file(src: str, dst: str, relative: str, fps: Optional[float] = None,
                 threshold: float = 0.2, refractory_us: float = 0.0,
                 threshold_sigma: float = 0.0, noise_rate: float = 0.0, eps: float = 1e-2,
                 resize: Optional[Sequence[int]] = None, max_frames: Optional[int] = None,
                 seed: int = 0, preview: int = 0) -> dict:
    """Convert one video to the event file ``dst`` (``.npz``); return a summary of its events.

    Args:
        src (str): the video or ``.npy`` frame array.
        dst (str): the event file to write.
        relative (str): the input's path relative to its folder (gives its seed,
            :func:`file_seed`).
        fps (float, optional): frame rate. Defaults to the video's own (required for arrays).
        threshold, refractory_us, threshold_sigma, noise_rate, eps: the sensor model of
            :func:`mmspike.datasets.synthetic.event_sim.video_frames_to_events`.
        resize (Sequence[int], optional): ``(w, h)`` to resize the frames to first.
        max_frames (int, optional): convert at most this many frames.
        seed (int): the seed of threshold mismatch and noise. Defaults to 0.
        preview (int): with N > 0 also write ``dst`` as ``.png``: N frames over their events
            (:func:`write_preview`). Defaults to 0.
    """
    from .events import save_events
    from .synthetic.event_sim import video_frames_to_events
    frames, video_fps = read_video(src, resize, max_frames)
    fps = fps or video_fps
    if not fps:
        raise VideoReadError(f'{src}: no frame rate (a frame array, or a video that declares '
                             f'none): give --fps')
    events = video_frames_to_events(
        frames, fps=fps, threshold=threshold, refractory_us=refractory_us,
        threshold_sigma=threshold_sigma, noise_rate=noise_rate, eps=eps,
        seed=file_seed(seed, relative))
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    save_events(dst, allow_empty=True, **events)
    if preview:
        write_preview(str(Path(dst).with_suffix('.png')), frames, events, fps, preview)
    count = int(events['t'].size)
    duration_s = (len(frames) - 1) / fps
    return dict(path=dst, frames=len(frames), height=events['height'], width=events['width'],
                fps=float(fps), events=count, on_fraction=float(events['p'].mean()) if count
                else 0.0, events_per_s=count / duration_s,
                events_per_pixel=count / (events['height'] * events['width']))


def events_name(relative: str) -> str:
    return str(Path(relative).with_suffix('.npz'))


def list_name(ann_file: str) -> str:
    """Name of the event list made from a video list: 'videos' becomes 'events'."""
    name = osp.basename(ann_file)
    if 'videos' in name:
        return name.replace('videos', 'events')
    stem, ext = osp.splitext(name)
    return f'{stem}_events{ext or ".txt"}'


def read_annotations(ann_file: str) -> List[Tuple[str, str]]:
    """``[(relative path, label), ...]`` of an MMAction2 video list."""
    entries = []
    for number, line in enumerate(Path(ann_file).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f'{ann_file} line {number}: expected "relative/path.mp4 LABEL", '
                             f'got {line!r}')
        entries.append((parts[0], ' '.join(parts[1:])))
    return entries


def collect_jobs(inputs: Sequence[str], ann_files: Sequence[str],
                 out_dir: str) -> Tuple[List[Tuple[str, str, str]], dict]:
    """``[(source, destination, relative), ...]`` and ``{list path: [(relative npz, label)]}``."""
    jobs, lists = [], {}
    if ann_files:
        if len(inputs) != 1 or not osp.isdir(inputs[0]):
            raise ValueError(f'--ann-file needs exactly one INPUT, the folder its paths are '
                             f'relative to; got {list(inputs)}')
        for ann_file in ann_files:
            entries = []
            for relative, label in read_annotations(ann_file):
                target = events_name(relative)
                jobs.append((osp.join(inputs[0], relative), osp.join(out_dir, target),
                             relative))
                entries.append((target, label))
            lists[osp.join(out_dir, list_name(ann_file))] = entries
        return jobs, lists
    for item in inputs:
        if osp.isdir(item):
            found = sorted(p for p in Path(item).rglob('*')
                           if p.suffix.lower() in VIDEO_SUFFIXES + ARRAY_SUFFIXES)
            if not found:
                raise ValueError(f'{item}: no videos ({", ".join(VIDEO_SUFFIXES)}) or .npy '
                                 f'frame arrays in this folder')
            for path in found:
                relative = str(path.relative_to(item))
                jobs.append((str(path), osp.join(out_dir, events_name(relative)), relative))
        else:
            name = osp.basename(item)
            jobs.append((item, osp.join(out_dir, events_name(name)), name))
    return jobs, lists
