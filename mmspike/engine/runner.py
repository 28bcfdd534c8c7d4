"""The steps of ``tools/train.py`` and ``tools/test.py``: arguments, config loading and the
config changes that their options make (mixed precision, resume, the frame-order control,
picture hooks, the checkpoint check)."""
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
    then the config checks of :func:`mmspike.engine.run_checks.check_run_config` (a pipeline
    ``clip_len`` that differs from the backbone's ``num_frames`` raises here) and its
    :class:`~mmspike.datasets.DatasetCheckHook` (videos and batch size, before the first step;
    ``--cfg-options dataset_check.probe=False`` skips opening every video, ``dataset_check.
    enable=False`` the whole check)."""
    from mmengine.config import Config

    from .run_checks import check_run_config
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


def merge_amp(cfg, amp, device=None):
    """Mixed precision for ``--amp`` (or a config whose ``optim_wrapper`` is already an
    ``AmpOptimWrapper``) on ``device`` (default: mmengine's ``get_device()``): see
    :func:`mmspike.engine.amp.amp_optim_wrapper_cfg`."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if not amp and wrapper != 'AmpOptimWrapper':
        return cfg
    if device is None:
        from mmengine.device import get_device
        device = get_device()
    from .amp import amp_optim_wrapper_cfg
    cfg.optim_wrapper = amp_optim_wrapper_cfg(cfg.optim_wrapper, device)
    from .compat import repair_mmaction_bf16_scores
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


def insert_shuffle_frames(pipeline):
    """Put ``ShuffleFrames`` before the step that formats the frames (``FormatShape`` for
    videos, ``FormatEventShape`` for integrated event frames)."""
    from ..datasets.transforms import format_step_index
    pipeline.insert(format_step_index(pipeline, '--shuffle-frames'),
                    dict(type='ShuffleFrames', seed=0))


SHOW_HOOKS = {'VideoPoseLifter': 'PoseVideoHook', 'VideoEncoderDecoder': 'SegClipVisualizationHook'}


def add_show_hook(cfg, show_dir):
    """Switch on the picture hook of the config's model type (:data:`SHOW_HOOKS`) writing to
    ``show_dir`` (relative: under ``cfg.work_dir``); return the absolute output directory.

    The runtime bases make that hook ``default_hooks.visualization``, switched off: it is
    switched on there (``enable=True``, ``out_dir``).  A config without it gets the hook
    appended to ``cfg.custom_hooks``."""
    model_type = cfg.model.get('type')
    if model_type not in SHOW_HOOKS:
        raise ValueError(f'--show-dir is implemented for the models {sorted(SHOW_HOOKS)}; this '
                         f'config\'s model is {model_type!r}')
    out_dir = osp.abspath(show_dir if osp.isabs(show_dir) else osp.join(cfg.work_dir, show_dir))
    default_hooks = cfg.get('default_hooks', None) or {}
    visualization = default_hooks.get('visualization', None)
    if visualization is not None and visualization.get('type') == SHOW_HOOKS[model_type]:
        visualization.update(enable=True, out_dir=out_dir)
        return out_dir
    hooks = list(cfg.get('custom_hooks', None) or [])
    hooks.append(dict(type=SHOW_HOOKS[model_type], out_dir=out_dir))
    cfg.custom_hooks = hooks
    return out_dir


def ensure_checkpoint_check(cfg):
    """Add :class:`mmspike.hooks.CheckpointShapeCheckHook` to ``cfg.default_hooks`` unless a
    hook of that type is configured: a checkpoint whose shapes do not fit the model must stop the
    test before it runs, not be tested with the model's initial weights."""
    default_hooks = dict(cfg.get('default_hooks', None) or {})
    hooks = [h for h in list(default_hooks.values()) + list(cfg.get('custom_hooks', None) or [])
             if h is not None]
    if not any(h.get('type') == 'CheckpointShapeCheckHook' for h in hooks):
        default_hooks['checkpoint_check'] = dict(type='CheckpointShapeCheckHook')
        cfg.default_hooks = default_hooks
    return cfg


def add_dump_metric(cfg, path):
    """Append mmengine's ``DumpResults`` (every test sample's predictions, as dicts, pickled to
    ``path``, a ``.pkl`` file) to ``cfg.test_evaluator``, as the stock ``--dump`` options do."""
    if not str(path).endswith(('.pkl', '.pickle')):
        raise ValueError(f'--dump writes a pickle: the file must end in .pkl or .pickle, got '
                         f'{path!r}')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=str(path))]
