"""Test a checkpoint with an mmspike / OpenMMLab config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value ...]
                                           [--shuffle-frames] [--show-dir DIR]
                                           [--dump PKL] [--launcher pytorch]
    bash tools/dist_test.sh CONFIG CHECKPOINT N [args]

``--show-dir DIR`` writes pictures of the first test clips to DIR (relative: under the work dir):
for 3D pose configs MP4 videos of the predicted and ground-truth skeletons
(:class:`mmspike.hooks.pose.PoseVideoHook`), for video segmentation configs the frames with the
ground truth and the prediction overlaid in class colours (:class:`mmspike.hooks.
SegClipVisualizationHook`, through MMSeg's visualizer).
"""
import argparse
import os.path as osp

from mmengine.runner import Runner

from mmspike.datasets.synthetic import prepare_embedded_dataset
from mmspike.engine import compat
from mmspike.engine.dist import init_distributed
from mmspike.engine.runner import (add_common_args, add_show_hook, ensure_checkpoint_check,
                                   add_dump_metric, insert_shuffle_frames, load_run_config)
from mmspike.hooks import BasePictureHook


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint (mmspike)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--shuffle-frames', action='store_true',
                        help='control run: permute the frames of every test clip '
                        '(ShuffleFrames before FormatShape or FormatEventShape)')
    parser.add_argument('--show-dir', help='write pictures of the first test clips to this '
                        'directory (relative: under the work dir): 3D pose: MP4 videos of '
                        'predicted vs ground-truth skeletons; segmentation: ground truth and '
                        'prediction overlaid on the frames')
    parser.add_argument('--dump', help='also write the predictions of every test sample to '
                        'this .pkl file (mmengine\'s DumpResults: the data samples as dicts)')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    compat.apply()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_run_config(args, splits=('test', ))
    cfg.load_from = args.checkpoint
    ensure_checkpoint_check(cfg)
    if args.shuffle_frames:
        insert_shuffle_frames(cfg.test_dataloader.dataset.pipeline)
    show_dir = add_show_hook(cfg, args.show_dir) if args.show_dir else None
    if args.dump:
        add_dump_metric(cfg, args.dump)
    # the process group first: the embedded dataset is written by one process behind a barrier
    init_distributed(cfg.launcher, cfg.get('env_cfg', {}).get('dist_cfg'))
    prepare_embedded_dataset(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    summary = ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                        for k, v in metrics.items())
    control = ' [frames shuffled]' if args.shuffle_frames else ''
    print(f'mmspike test result ({osp.basename(args.config)}){control}: {summary}', flush=True)
    if show_dir is not None:
        written = [path for hook in runner.hooks if isinstance(hook, BasePictureHook)
                   for path in hook.written]
        kind = 'pose videos' if cfg.model.type == 'VideoPoseLifter' else 'segmented clips'
        print(f'{kind} ({len(written)}) in {show_dir}', flush=True)


if __name__ == '__main__':
    main()
