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

The command line of :mod:`mmspike.datasets.event_conversion`.  The model (log-intensity change
events: contrast threshold, linear interpolation of the crossing times between frames,
per-pixel refractory period, threshold mismatch, background activity) and why it is written
in mmspike rather than taken from a simulator package (v2e is not on the package index, ESIM's
Python bindings are a C++ build from source, and ``esim`` on the index is an unrelated library)
are in :mod:`mmspike.datasets.synthetic.event_sim`, which the embedded event dataset
(:mod:`mmspike.datasets.synthetic.motion_events`) uses as well.  Frame times are ``k / fps``
(``fps`` from the video unless ``--fps`` is given).  Each file gets its own seed, derived from
``--seed`` and its relative path, so a conversion does not depend on the order of the inputs.

``--preview N`` also writes ``DIR/<name>.png`` next to each event file: N video frames (top) over
the events between consecutive shown frames (bottom; ON white-to-red, OFF white-to-blue, each
pixel's count scaled by the 99th percentile), to see what the conversion made.

A video that cannot be opened, has no frames or only one, raises an error naming it; the tool
converts the other inputs, lists the failures and exits with status 1.
"""
import argparse
import os.path as osp
import sys
import time
from pathlib import Path

from mmspike.datasets.event_conversion import (  # noqa: F401  (re-exported)
    VideoReadError, collect_jobs, convert_file, event_image, file_seed, read_video)
from mmspike.datasets.synthetic.event_sim import check_sensor_args


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
            info = convert_file(
                src, dst, relative, fps=args.fps, threshold=args.threshold,
                refractory_us=args.refractory_us, threshold_sigma=args.threshold_sigma,
                noise_rate=args.noise_rate, eps=args.eps, resize=args.resize,
                max_frames=args.max_frames, seed=args.seed, preview=args.preview)
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
