"""Shared steps of ``tools/train.py`` and ``tools/test.py``."""
import os
import os.path as osp


def add_common_args(parser):
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher for distributed runs')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_run_config(args):
    """Load ``args.config`` and apply ``--cfg-options``, ``--launcher`` and ``--work-dir``;
    then the config checks of :func:`mmspike.datasets.checks.check_run_config` (a pipeline
    ``clip_len`` that differs from the backbone's ``num_frames`` raises here) and its
    :class:`~mmspike.datasets.DatasetCheckHook` (videos and batch size, before the first step;
    ``--cfg-options dataset_check.probe=False`` skips opening every video, ``dataset_check.
    enable=False`` the whole check)."""
    from mmengine.config import Config

    from .datasets.checks import check_run_config
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    check_run_config(cfg)
    return cfg
