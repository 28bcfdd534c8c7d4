"""Test a checkpoint with an mmspike / OpenMMLab config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value ...]
                                           [--shuffle-frames] [--launcher pytorch]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

import mmspike  # noqa: E402,F401  (registers modules, applies compat repairs)
from mmspike.datasets import prepare_embedded_dataset  # noqa: E402
from mmspike.runner_utils import add_common_args, load_run_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint (mmspike)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--shuffle-frames', action='store_true',
                        help='control run: permute the frames of every test clip '
                        '(ShuffleFrames before FormatShape)')
    add_common_args(parser)
    return parser.parse_args(argv)


def insert_shuffle_frames(pipeline):
    types = [step['type'] for step in pipeline]
    if 'FormatShape' not in types:
        raise ValueError(f'--shuffle-frames needs a FormatShape step in the test pipeline, '
                         f'found {types}')
    pipeline.insert(types.index('FormatShape'), dict(type='ShuffleFrames', seed=0))


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_run_config(args)
    cfg.load_from = args.checkpoint
    if args.shuffle_frames:
        insert_shuffle_frames(cfg.test_dataloader.dataset.pipeline)
    prepare_embedded_dataset(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    summary = ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                        for k, v in metrics.items())
    control = ' [frames shuffled]' if args.shuffle_frames else ''
    print(f'mmspike test result ({osp.basename(args.config)}){control}: {summary}', flush=True)


if __name__ == '__main__':
    main()
