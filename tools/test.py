"""Test a checkpoint with an mmspike / OpenMMLab config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value ...]
                                           [--shuffle-frames] [--show-dir DIR]
                                           [--launcher pytorch]

``--show-dir DIR`` (3D pose configs) writes MP4 videos of the predicted and ground-truth skeletons
of the first test clips to DIR (relative: under the work dir), with
:class:`mmspike.hooks.PoseVideoHook`.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

import mmspike  # noqa: E402,F401  (registers modules, applies compat repairs)
from mmspike.datasets import prepare_embedded_dataset  # noqa: E402
from mmspike.hooks import PoseVideoHook  # noqa: E402
from mmspike.runner_utils import add_common_args, load_run_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint (mmspike)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--shuffle-frames', action='store_true',
                        help='control run: permute the frames of every test clip '
                        '(ShuffleFrames before FormatShape)')
    parser.add_argument('--show-dir', help='3D pose: write MP4 videos of predicted vs '
                        'ground-truth skeletons of the first test clips to this directory '
                        '(relative: under the work dir)')
    add_common_args(parser)
    return parser.parse_args(argv)


def insert_shuffle_frames(pipeline):
    types = [step['type'] for step in pipeline]
    if 'FormatShape' not in types:
        raise ValueError(f'--shuffle-frames needs a FormatShape step in the test pipeline, '
                         f'found {types}')
    pipeline.insert(types.index('FormatShape'), dict(type='ShuffleFrames', seed=0))


def add_pose_video_hook(cfg, show_dir):
    """Append a PoseVideoHook writing to ``show_dir`` (relative: under ``cfg.work_dir``) to
    ``cfg.custom_hooks``; return the absolute output directory."""
    out_dir = osp.abspath(show_dir if osp.isabs(show_dir) else osp.join(cfg.work_dir, show_dir))
    hooks = list(cfg.get('custom_hooks', None) or [])
    hooks.append(dict(type='PoseVideoHook', out_dir=out_dir))
    cfg.custom_hooks = hooks
    return out_dir


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_run_config(args)
    cfg.load_from = args.checkpoint
    if args.shuffle_frames:
        insert_shuffle_frames(cfg.test_dataloader.dataset.pipeline)
    show_dir = add_pose_video_hook(cfg, args.show_dir) if args.show_dir else None
    prepare_embedded_dataset(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    summary = ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                        for k, v in metrics.items())
    control = ' [frames shuffled]' if args.shuffle_frames else ''
    print(f'mmspike test result ({osp.basename(args.config)}){control}: {summary}', flush=True)
    if show_dir is not None:
        videos = [path for hook in runner.hooks if isinstance(hook, PoseVideoHook)
                  for path in hook.written]
        print(f'pose videos ({len(videos)}) in {show_dir}', flush=True)


if __name__ == '__main__':
    main()
