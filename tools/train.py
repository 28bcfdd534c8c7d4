"""Train a model with an mmspike / OpenMMLab config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options key=value ...] [--launcher pytorch]
    torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch
    bash tools/dist_train.sh CONFIG N [args]

``--launcher pytorch`` without CUDA runs on the CPU with the gloo backend (a config's ``nccl`` is
replaced, see :mod:`mmspike.dist`); ``--cfg-options sync_bn=torch`` synchronises the
BatchNorms' batch statistics over processes (on the CPU with mmspike's all-reduce SyncBN).
``--amp``: bfloat16 autocast on the CPU, mmengine's ``AmpOptimWrapper`` (float16 with a dynamic
loss scaler) on a GPU; ``--cfg-options optim_wrapper.dtype=bfloat16`` picks bfloat16 there
(:mod:`mmspike.amp`).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

import mmspike  # noqa: E402,F401  (registers modules, applies compat repairs)
from mmspike.amp import amp_optim_wrapper_cfg  # noqa: E402  (registers AutocastOptimWrapper)
from mmspike.compat import repair_mmaction_bf16_scores  # noqa: E402
from mmspike.datasets import prepare_embedded_dataset  # noqa: E402
from mmspike.dist import init_distributed  # noqa: E402
from mmspike.runner_utils import add_common_args, load_run_config  # noqa: E402


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
    add_common_args(parser)
    return parser.parse_args(argv)


def merge_amp(cfg, amp, device=None):
    """Mixed precision for ``--amp`` (or a config whose ``optim_wrapper`` is already an
    ``AmpOptimWrapper``) on ``device`` (default: mmengine's ``get_device()``): see
    :func:`mmspike.amp.amp_optim_wrapper_cfg`."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if not amp and wrapper != 'AmpOptimWrapper':
        return cfg
    if device is None:
        from mmengine.device import get_device
        device = get_device()
    cfg.optim_wrapper = amp_optim_wrapper_cfg(cfg.optim_wrapper, device)
    repair_mmaction_bf16_scores()
    print(f'mixed precision on {device}: {cfg.optim_wrapper["type"]} '
          f'(dtype {cfg.optim_wrapper.get("dtype") or "float16"})', flush=True)
    return cfg


def merge_train_args(cfg, args):
    merge_amp(cfg, args.amp)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint {args.resume!r} does not exist')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.seed is not None:
        cfg.setdefault('randomness', {})['seed'] = args.seed
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_train_args(load_run_config(args), args)
    # the process group first: the embedded dataset is written by one process behind a barrier
    init_distributed(cfg.launcher, cfg.get('env_cfg', {}).get('dist_cfg'))
    prepare_embedded_dataset(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
