"""Train a model with an mmspike / OpenMMLab config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options key=value ...] [--launcher pytorch]
    torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch
    bash tools/dist_train.sh CONFIG N [args]

``--launcher pytorch`` without CUDA runs on the CPU with the gloo backend (a config's ``nccl`` is
replaced, see :mod:`mmspike.engine.dist`); ``--cfg-options sync_bn=torch`` synchronises the
BatchNorms' batch statistics over processes (on the CPU with mmspike's all-reduce SyncBN).
``--amp``: bfloat16 autocast on the CPU, mmengine's ``AmpOptimWrapper`` (float16 with a dynamic
loss scaler) on a GPU; ``--cfg-options optim_wrapper.dtype=bfloat16`` picks bfloat16 there
(:mod:`mmspike.engine.amp`).  Training stops at the first NaN / infinite loss, before that
iteration's checkpoint, naming the iteration, the loss terms and the batch's files
(:class:`mmspike.hooks.NonFiniteLossHook`); ``--allow-nonfinite`` trains on, as mmengine does.
"""
import argparse

from mmengine.runner import Runner

from mmspike.datasets.synthetic import prepare_embedded_dataset
from mmspike.engine import compat
from mmspike.engine.dist import init_distributed
from mmspike.engine.runner import add_common_args, load_run_config, merge_train_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mmspike)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir '
                        'when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: bfloat16 autocast on the CPU, '
                        'AmpOptimWrapper (float16, dynamic loss scale) on a GPU')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--seed', type=int, help='random seed (overrides the config)')
    parser.add_argument('--allow-nonfinite', action='store_true',
                        help='train on through NaN / infinite losses (mmengine\'s behaviour); '
                        'by default training stops at the first one, naming the iteration, the '
                        'loss terms and the batch\'s files, before its checkpoint is written')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    compat.apply()
    cfg = merge_train_args(load_run_config(args, splits=('train', 'val')), args)
    # the process group first: the embedded dataset is written by one process behind a barrier
    init_distributed(cfg.launcher, cfg.get('env_cfg', {}).get('dist_cfg'))
    prepare_embedded_dataset(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
