"""Convert videos to event-camera streams (the ``.npz`` event format of mmspike).

    python tools/data/video_to_events.py INPUT... --out-dir DIR [--fps FPS] [--threshold 0.2]
        [--refractory-us 0] [--threshold-sigma 0] [--noise-rate 0] [--eps 0.01]
        [--resize W H] [--seed 0] [--ann-file LIST ...] [--preview N]

INPUT is a video (anything OpenCV decodes, e.g. MP4), a frame array (``.npy``, ``(T, H, W)`` or
``(T, H, W, 3)`` RGB, 8-bit values; give ``--fps``) or a folder.  Without ``--ann-file`` every
input file becomes ``DIR/<name>.npz`` and a folder is converted recursively, keeping its layout.
With ``--ann-file`` (repeatable) the single INPUT is the video folder of MMAction2 annotation
lists (lines ``relative/path.mp4 LABEL``, e.g. ``data/motion_clips/videos`` with
``data/motion_clips/motion_clips_train_list_videos.txt``): every listed video becomes
``DIR/relative/path.npz`` and each list is rewritten as ``DIR/<list name, 'videos' replaced by
'events'>`` with lines ``relative/path.npz LABEL``, the annotation format of
``EventClipDataset`` (``data_prefix=dict(events=DIR)``).

The model (log-intensity change events: contrast threshold, linear interpolation of the
crossing times between frames, per-pixel refractory period, threshold mismatch, background
activity) and why it is written here rather than taken from a simulator package (v2e is not on
the package index, ESIM's Python bindings are a C++ build from source, and ``esim`` on the index
is an unrelated library) are in :mod:`mmspike.datasets.synthetic.event_sim`, which the embedded event
dataset (:mod:`mmspike.datasets.synthetic.motion_events`) uses as well.  Frame times are ``k / fps``
(``fps`` from the video unless ``--fps`` is given).  Each file gets its own seed, derived from
``--seed`` and its relative path, so a conversion does not depend on the order of the inputs.

``--preview N`` also writes ``DIR/<name>.png`` next to each event file: N video frames (top) over
the events between consecutive shown frames (bottom; ON white-to-red, OFF white-to-blue, each
pixel's count scaled by the 99th percentile), to see what the conversion made.

A video that cannot be opened, has no frames or only one, raises an error naming it; the tool
converts the other inputs, lists the failures and exits with status 1.
"""
import argparse
import os
import os.path as osp
import sys
import time
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

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


def convert_file(src: str, dst: str, relative: str, args) -> dict:
    """Convert one video to ``dst`` (``.npz``); return a summary of its events."""
    from mmspike.datasets.synthetic.event_sim import video_frames_to_events
    from mmspike.datasets.events import save_events
    frames, video_fps = read_video(src, args.resize, args.max_frames)
    fps = args.fps or video_fps
    if not fps:
        raise VideoReadError(f'{src}: no frame rate (a frame array, or a video that declares '
                             f'none): give --fps')
    events = video_frames_to_events(
        frames, fps=fps, threshold=args.threshold, refractory_us=args.refractory_us,
        threshold_sigma=args.threshold_sigma, noise_rate=args.noise_rate, eps=args.eps,
        seed=file_seed(args.seed, relative))
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    save_events(dst, allow_empty=True, **events)
    if getattr(args, 'preview', 0):
        write_preview(str(Path(dst).with_suffix('.png')), frames, events, fps, args.preview)
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert videos to event streams (log-intensity change model).')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='videos, .npy frame arrays or folders')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--ann-file', action='append', default=[],
                        help='MMAction2 video list(s) relative to the single INPUT folder; '
                        'converted into event lists in --out-dir (repeatable)')
    parser.add_argument('--fps', type=float, default=None,
                        help='frame rate (default: the video\'s own; required for .npy)')
    parser.add_argument('--threshold', type=float, default=0.2,
                        help='contrast threshold C in log intensity (default 0.2)')
    parser.add_argument('--refractory-us', type=float, default=0.0,
                        help='per-pixel refractory period in microseconds (default 0)')
    parser.add_argument('--threshold-sigma', type=float, default=0.0,
                        help='per-pixel threshold mismatch, std in log units (default 0)')
    parser.add_argument('--noise-rate', type=float, default=0.0,
                        help='background activity, events per pixel per second (default 0)')
    parser.add_argument('--eps', type=float, default=1e-2,
                        help='offset in log(I + eps), I in [0, 1] (default 0.01)')
    parser.add_argument('--resize', type=int, nargs=2, metavar=('W', 'H'), default=None,
                        help='resize the frames first (area interpolation)')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='convert at most this many frames of each video')
    parser.add_argument('--seed', type=int, default=0, help='seed of mismatch and noise')
    parser.add_argument('--preview', type=int, default=0, metavar='N',
                        help='also write <output>.png: N frames over their events (default 0: '
                        'none)')
    args = parser.parse_args(argv)
    from mmspike.datasets.synthetic.event_sim import check_sensor_args
    try:
        check_sensor_args(threshold=args.threshold, refractory_us=args.refractory_us,
                          threshold_sigma=args.threshold_sigma, noise_rate=args.noise_rate)
    except ValueError as error:
        parser.error(f'{error} (--{str(error).split()[0].replace("_", "-")})')
    if args.preview < 0:
        parser.error(f'--preview must be >= 0, got {args.preview}')
    if args.fps is not None and not args.fps > 0:
        parser.error(f'--fps must be > 0, got {args.fps}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        jobs, lists = collect_jobs(args.inputs, args.ann_file, args.out_dir)
    except (ValueError, OSError) as exc:
        print(f'video_to_events: {exc}', file=sys.stderr)
        return 1
    failures, total = [], 0
    started = time.perf_counter()
    failed = set()
    for src, dst, relative in jobs:
        try:
            info = convert_file(src, dst, relative, args)
        except (VideoReadError, FileNotFoundError) as exc:
            failures.append(str(exc))
            failed.add(osp.abspath(dst))
            print(f'FAILED {exc}', file=sys.stderr, flush=True)
            continue
        total += info['events']
        print(f"{src} -> {dst}: {info['frames']} frames {info['width']}x{info['height']} at "
              f"{info['fps']:g} fps, {info['events']} events ({info['events_per_s']:.0f}/s, "
              f"{info['events_per_pixel']:.2f} per pixel, {100 * info['on_fraction']:.1f}% ON)",
              flush=True)
    for path, entries in lists.items():
        kept = [(target, label) for target, label in entries
                if osp.abspath(osp.join(args.out_dir, target)) not in failed]
        Path(path).write_text(''.join(f'{target} {label}\n' for target, label in kept))
        print(f'annotation list {path} ({len(kept)} clips'
              + (f', {len(entries) - len(kept)} failed ones left out)' if len(kept) < len(entries)
                 else ')'))
    print(f'converted {len(jobs) - len(failures)} of {len(jobs)} inputs, {total} events, in '
          f'{time.perf_counter() - started:.1f} s', flush=True)
    if failures:
        print(f'{len(failures)} input(s) failed:\n  ' + '\n  '.join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
