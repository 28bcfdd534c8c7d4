"""Run a causal mmspike model on a video one frame at a time (online inference).

    python tools/stream.py CONFIG CHECKPOINT VIDEO [--max-frames N] [--size S] [--every K]
                           [--json OUT] [--device cpu] [--no-energy] [--cfg-options ...]

The command line of :mod:`mmspike.apis.streaming`.  The video is decoded frame by frame with
OpenCV (never held in memory); each frame is converted BGR -> RGB, its shorter side resized to
``S`` and centre-cropped to ``S x S`` (``S``: ``--size``, else the size of the config's test
pipeline or the backbone's ``img_size``), then fed to the model's streaming context, one frame
per call, with the neuron states (and causal attention's key-value sum) carried from frame to
frame.  The outputs equal those of the whole-clip forward.

Models: MMAction2 recognizers with a causal backbone, no neck and a causal head
(:class:`mmspike.estimators.action.StreamingRecognizer`; the running prediction after frame t is
that of the clip of frames 1..t) and MMPose :class:`~mmspike.estimators.pose.VideoPoseLifter`
(root-relative joints of every frame).  The backbone must be causal, e.g. SpikeVideoFormer with
``attention='causal'`` (``configs/spikevideoformer_pose_demo_causal.py``).

Printed: a progress line every ``K`` frames and a summary: the prediction (action: top-5 classes
with scores; pose: the mean joint displacement per frame), the energy per frame (mJ, MACs and
ACs counted by :class:`mmspike.energy.EnergyCounter`) and the firing rate, frames per second
(model calls alone, and including decoding and resizing) and memory: the process's peak RSS and
how much the RSS grew while streaming (it should not grow with the video's length).
``--json OUT`` writes the per-frame results (pose: the joints of every frame) and the summary.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmengine.config import DictAction

from mmspike.apis import (JsonFrameWriter, VideoFrames, build_model, class_names_from_config,
                          frame_size_from_config, load_config, load_weights, make_streamer,
                          stream_video)
from mmspike.energy import EnergyCounter


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Frame-by-frame (streaming) inference of a causal mmspike model on a video')
    parser.add_argument('config', help='config file (a causal model)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='video file (anything OpenCV decodes)')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='stop after this many frames (default: the whole video)')
    parser.add_argument('--size', type=int, default=None,
                        help='frame size S: shorter side resized to S, centre crop S x S '
                        "(default: from the config's test pipeline or the backbone's img_size)")
    parser.add_argument('--every', type=int, default=10,
                        help='print a progress line every K frames (default 10; 0: never)')
    parser.add_argument('--json', dest='json_out', default=None,
                        help='write the per-frame results and the summary to this JSON file')
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--no-energy', action='store_true',
                        help='do not count MACs/ACs (the counting slows the model calls down)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.attention=causal')
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f'--max-frames must be >= 1, got {args.max_frames}')
    if args.size is not None and args.size < 1:
        parser.error(f'--size must be >= 1, got {args.size}')
    if args.every < 0:
        parser.error(f'--every must be >= 0, got {args.every}')
    return args


def _backbone_words(backbone) -> str:
    attention = getattr(backbone, 'attention', None)
    detail = f" attention={attention!r}" if attention is not None else ''
    return f'{type(backbone).__name__}{detail}'


def _in_metric_unit(value: float, unit_scale: float) -> str:
    """A distance in the targets' unit, and in the metric's (the head's ``unit_scale``: metres
    -> mm for 1000)."""
    if unit_scale == 1000:
        return f'{value:.5f} m ({value * 1000:.1f} mm)'
    return f'{value:.5f} (x{unit_scale:g} = {value * unit_scale:.2f} in the metric\'s unit)'


def run(args: argparse.Namespace) -> dict:
    """Everything :func:`main` does; returns the summary (also in the JSON)."""
    cfg = load_config(args.config, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    model = build_model(cfg)
    streamer = make_streamer(model)  # refuses non-causal models before the weights are read
    size = args.size if args.size is not None else frame_size_from_config(cfg, model)
    if size is None:
        raise ValueError(f'cannot tell the frame size from {args.config} (no square crop_size, '
                         f'size or scale in its test pipeline, no backbone img_size); pass '
                         f'--size S')
    load_weights(model, args.checkpoint)
    device = torch.device(args.device)
    model.to(device).eval()
    names = class_names_from_config(cfg) if streamer.task == 'action' else None
    num_classes = getattr(getattr(model, 'cls_head', None), 'num_classes', None)
    if names is not None and len(names) != num_classes:
        print(f'the config gives {len(names)} class names for {num_classes} classes; printing '
              f'class indices', flush=True)
        names = None
    unit_scale = float(getattr(getattr(model, 'head', None), 'unit_scale', 1.0))

    video = VideoFrames(args.video, args.max_frames)
    print(f'streaming {args.video} ({video.num_frames or "?"} frames, {video.fps:g} fps) '
          f'through {type(model).__name__} ({_backbone_words(model.backbone)}, '
          f'{streamer.task}) at {size} x {size}, one frame per call, on {device}', flush=True)
    counter = None if args.no_energy else EnergyCounter(model)
    writer = JsonFrameWriter(args.json_out) if args.json_out else None

    def progress(record: dict) -> None:
        if not args.every or (record['frame'] + 1) % args.every:
            return
        if streamer.task == 'action':
            best = record['top5'][0]
            line = f'top-1 {best["name"]} {best["score"]:.3f}'
        elif 'displacement' in record:
            line = f'joint displacement {_in_metric_unit(record["displacement"], unit_scale)}'
        else:
            line = 'first frame'
        total = f'/{video.num_frames}' if video.num_frames else ''
        energy = f', {record["energy_mj"]:.4f} mJ' if counter is not None else ''
        rss = f', RSS {record["rss_mib"]:.1f} MiB' if record['rss_mib'] is not None else ''
        print(f'frame {record["frame"] + 1}{total}: {record["model_ms"]:.1f} ms{energy}, '
              f'{line}{rss}', flush=True)

    result = stream_video(streamer, video, size, device, counter, writer, names, progress)
    summary = dict(config=args.config, checkpoint=args.checkpoint, video=args.video, **result)
    count = summary['frames']
    print(f'--- {count} frames of {args.video} ---')
    if streamer.task == 'action':
        top = summary['top5']
        kind = 'probability' if getattr(model.cls_head, 'average_clips', None) == 'prob' \
            else 'score'
        print(f'prediction after {count} frames (top-{len(top)}, {kind}): '
              + ', '.join(f'{t["name"]} {t["score"]:.4f}' for t in top))
    else:
        where = f' (per-frame joints in {args.json_out})' if args.json_out else \
            ' (--json OUT writes the joints of every frame)'
        print(f'pose: {count} frames of root-relative joints {summary["joints_shape"]}; mean '
              f'joint displacement per frame '
              f'{_in_metric_unit(summary["mean_joint_displacement"], unit_scale)}{where}')
    if counter is not None:
        print(f'energy: {summary["energy_mj_per_frame"]:.5f} mJ/frame (mean), firing rate '
              f'{summary["firing_rate"]:.4f}')
    timing = 'with energy counting; --no-energy for the model alone' if counter is not None \
        else 'no energy counting'
    print(f'speed: {summary["model_fps"]:.1f} frames/s in model calls '
          f'({summary["model_ms_per_frame"]:.2f} ms/frame, {timing}); '
          f'{summary["fps_with_decoding"]:.1f} frames/s including decoding and resizing')
    memory = (f'memory: peak RSS {summary["peak_rss_mib"]:.1f} MiB (process), '
              f'{summary["peak_rss_growth_mib"]:+.1f} MiB after frame 1')
    if summary['rss_first_frame_mib'] is not None:
        memory += (f'; RSS before streaming {summary["rss_before_mib"]:.1f} MiB, after frame 1 '
                   f'{summary["rss_first_frame_mib"]:.1f} MiB (first-call workspaces), max '
                   f'{summary["rss_max_mib"]:.1f} MiB, after frame {count} '
                   f'{summary["rss_last_frame_mib"]:.1f} MiB: growth while streaming '
                   f'{summary["rss_growth_mib"]:+.1f} MiB')
    if 'cuda_peak_allocated_mib' in summary:
        memory += f'; CUDA peak allocated {summary["cuda_peak_allocated_mib"]:.1f} MiB'
    print(memory, flush=True)
    if writer is not None:
        writer.close(summary)
        print(f'per-frame results: {args.json_out}', flush=True)
    return summary


def main(argv: Optional[List[str]] = None) -> dict:
    return run(parse_args(argv))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, TypeError) as err:
        sys.exit(f'tools/stream.py: error: {err}')
