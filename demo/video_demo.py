"""Run a trained mmspike model on a video and write the annotated video (and per-frame JSON).

    python demo/video_demo.py CONFIG CHECKPOINT VIDEO --out-file OUT.mp4 [--out-json OUT.json]
                              [--device cpu] [--no-energy] [--energy-model M]
                              [--max-frames N] [--stride S]
                              [--alpha A] [--fps F] [--cfg-options ...]

The task follows from the config's model: MMAction2 recognizers (action recognition: the
running label of every frame over sliding windows of the model's clip, and the class of the
whole video), ``VideoPoseLifter`` (one 3D pose per frame, drawn beside the frame) and
``VideoEncoderDecoder`` (a class map per frame, blended over it).  ``VIDEO`` is a video file or
a folder of frame images.  Every frame's energy (mJ, from the MACs and ACs that ran; with
``--energy-model memory`` or ``lemaire`` with data movement, docs/energy.md) is drawn and written
unless ``--no-energy``.

The model runs through :func:`mmspike.apis.video_inference.inference_video`, the frames are
drawn by :mod:`mmspike.visualization.video_overlay`.  The outputs are written to temporary
files renamed at the end, so a run that fails leaves no partial file and replaces nothing.
Errors in the input (missing or unreadable files, a model of another task) end the run with
one line and exit code 2.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

PROG = 'demo/video_demo.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        prog=PROG, description='Run an mmspike model (action, 3D pose or segmentation) on a '
        'video; write the annotated video and the per-frame results')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='video file (anything OpenCV decodes) or a folder of '
                        'frame images')
    parser.add_argument('--out-file', required=True, help='the annotated video (.mp4)')
    parser.add_argument('--out-json', default=None,
                        help='write the per-frame results (and the energy) to this JSON file')
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--no-energy', action='store_true',
                        help='do not count the energy (the counting slows the model down)')
    parser.add_argument('--energy-model', default='compute',
                        choices=('compute', 'memory', 'lemaire'),
                        help="the energy model: 'compute' (default; arithmetic only, the "
                             "papers' convention), 'memory' (plus data movement), 'lemaire'")
    parser.add_argument('--max-frames', type=int, default=None,
                        help='use only the first N frames (default: the whole video)')
    parser.add_argument('--stride', type=int, default=None,
                        help='frames between window starts (default: half a window)')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='segmentation: opacity of the class colours (default 0.5)')
    parser.add_argument('--fps', type=float, default=None,
                        help='frame rate of the written video (default: that of VIDEO, else 25)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.test_cfg.clip_stride=2')
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f'--max-frames must be >= 1, got {args.max_frames}')
    if args.stride is not None and args.stride < 1:
        parser.error(f'--stride must be >= 1, got {args.stride}')
    if not 0.0 <= args.alpha <= 1.0:
        parser.error(f'--alpha must be in [0, 1], got {args.alpha}')
    if args.fps is not None and not args.fps > 0:
        parser.error(f'--fps must be > 0, got {args.fps}')
    if osp.splitext(args.out_file)[1].lower() != '.mp4':
        parser.error(f'--out-file must be an .mp4 file, got {args.out_file!r}')
    return args


def check_paths(args: argparse.Namespace) -> None:
    """Inputs that exist, outputs that overwrite none of them; before anything is loaded."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    if not osp.exists(args.video):
        raise FileNotFoundError(f'video {args.video!r} does not exist')
    outputs = [('--out-file', args.out_file)]
    if args.out_json:
        outputs.append(('--out-json', args.out_json))
    for option, path in outputs:
        if osp.isdir(path):
            raise ValueError(f'{option} {path!r} is a folder, expected a file name')
        for name, given in (('VIDEO', args.video), ('CONFIG', args.config),
                            ('CHECKPOINT', args.checkpoint)):
            if osp.exists(path) and osp.samefile(path, given):
                raise ValueError(f'{option} {path!r} is the {name} file: choose another name')
    if args.out_json and osp.abspath(args.out_json) == osp.abspath(args.out_file):
        raise ValueError(f'--out-file and --out-json are the same file {args.out_file!r}')


def summary_lines(result, out_file: str, out_json: Optional[str]) -> List[str]:
    """What the run found, in words."""
    lines = [f'--- {result.num_frames} frames'
             + (f' ({result.fps:g} fps)' if result.fps else '') + f', task {result.task} ---']
    if result.task == 'action':
        order = np.argsort(-result.scores, kind='stable')[:3]
        names = [result.class_names[i] if result.class_names else str(i) for i in order]
        lines.append('video: ' + ', '.join(f'{name} {result.scores[i]:.3f}'
                                           for name, i in zip(names, order)))
        changes = int(np.count_nonzero(np.diff(result.frame_labels))) \
            if result.num_frames > 1 else 0
        lines.append(f'running label: {len(result.windows)} windows, {changes} label changes')
    elif result.task == 'pose':
        moved = np.linalg.norm(np.diff(result.joints, axis=0), axis=-1).mean() \
            if result.num_frames > 1 else 0.0
        lines.append(f'pose: joints {list(result.joints.shape)} (root-relative), mean joint '
                     f'movement per frame {moved:.4f}')
    else:
        counts = np.bincount(result.class_maps.reshape(-1).clip(min=0))
        order = [int(c) for c in np.argsort(-counts, kind='stable')[:5] if counts[c]]
        total = float(result.class_maps.size)
        names = result.class_names or []
        lines.append('classes: ' + ', '.join(
            f'{names[c] if c < len(names) else c} {counts[c] / total:.1%}' for c in order))
    if np.all(np.isnan(result.energy_mj)):
        lines.append('energy: not counted (--no-energy)')
    else:
        lines.append(f'energy ({result.energy_model} model): {np.nansum(result.energy_mj):.4f} '
                     f'mJ in all, {np.nanmean(result.energy_mj):.5f} mJ per frame (mean)')
    lines.append(f'annotated video: {out_file}')
    if out_json:
        lines.append(f'per-frame results: {out_json}')
    return lines


def run(args: argparse.Namespace):
    """Everything :func:`main` does; returns the :class:`VideoResult`."""
    check_paths(args)
    from mmspike.apis import init_model, load_video
    from mmspike.apis.video_inference import inference_video, model_task
    from mmspike.visualization.video_overlay import write_annotated_video

    print(f'loading {args.config} with {args.checkpoint} on {args.device}', flush=True)
    model = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    task = model_task(model)
    print(f'running {type(model).__name__} ({task}) on {args.video}', flush=True)
    energy = False if args.no_energy else args.energy_model
    result = inference_video(model, args.video, energy=energy, stride=args.stride,
                             max_frames=args.max_frames, progress=True)
    print(flush=True)
    frames = load_video(args.video, args.max_frames)
    every = max(1, result.num_frames // 10)

    def progress(index: int, image: np.ndarray) -> None:
        if (index + 1) % every == 0 or index + 1 == result.num_frames:
            print(f'drawn {index + 1}/{result.num_frames} frames', flush=True)

    record = None
    if args.out_json:
        from mmspike.apis.inferencers import write_json
        record = dict(input=osp.abspath(args.video), config=args.config,
                      checkpoint=args.checkpoint, **result.to_dict())
    write_annotated_video(args.out_file, frames, result, fps=args.fps, on_frame=progress,
                          alpha=args.alpha)
    if record is not None:
        write_json(args.out_json, record)
    print('\n'.join(summary_lines(result, args.out_file, args.out_json)), flush=True)
    return result


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    try:
        return run(args)
    except (OSError, ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f'{PROG}: error: {message}', file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
