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
    parser.add_argument('--check', choices=['auto', 'full', 'quick', 'off'],
                        help='the run check before the first step: full decodes every video '
                        'frame, image and mask; quick opens every video; auto (the default): '
                        'full for datasets up to 2 GiB, else quick; off: no check')


def load_run_config(args, splits=None):
    """Load ``args.config`` and apply ``--cfg-options``, ``--launcher``, ``--work-dir`` and
    ``--check``; then the config checks of :func:`mmspike.engine.run_checks.check_run_config` (a
    clip length that differs from the backbone's ``num_frames`` raises here) and its
    :class:`~mmspike.hooks.DatasetCheckHook` (annotation lists of ``splits``, e.g.
    ``('train', 'val')``, or every split when None; every file and the batch size, before the
    first step; ``--check quick`` opens videos without decoding them, ``--cfg-options
    dataset_check.probe=False`` only checks that files exist, ``--check off`` skips the whole
    check)."""
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
    check = getattr(args, 'check', None)
    if check is not None:
        options = dict(cfg.get('dataset_check', None) or {})
        if check == 'off':
            options['enable'] = False
        else:
            options.update(enable=True, mode=check)
        cfg.dataset_check = options
    check_run_config(cfg, splits)
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
    """The config changes of ``tools/train.py``'s options: ``--amp`` (:func:`merge_amp`),
    ``--resume``, ``--no-validate``, ``--seed``, and the non-finite loss stop
    (:func:`ensure_nonfinite_loss_check`, off with ``--allow-nonfinite``)."""
    merge_amp(cfg, args.amp)
    ensure_nonfinite_loss_check(cfg, getattr(args, 'allow_nonfinite', False))
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


def _is_nonfinite_loss_hook(hook):
    """Whether a ``custom_hooks`` / ``default_hooks`` entry (a dict, whose ``type`` may be a
    name, a scoped name or the class, or a hook object) is a ``NonFiniteLossHook``."""
    kind = hook.get('type') if isinstance(hook, dict) else type(hook)
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.rsplit('.', 1)[-1] == 'NonFiniteLossHook'


def ensure_nonfinite_loss_check(cfg, allow_nonfinite=False):
    """Append :class:`mmspike.hooks.NonFiniteLossHook` to ``cfg.custom_hooks`` (training stops
    at the first NaN / infinite loss, naming the iteration, the loss terms and the batch's files,
    before that iteration's checkpoint is written) unless a hook of that type is configured
    already.  ``allow_nonfinite`` (``--allow-nonfinite``: mmengine's behaviour, train on) adds
    none and removes one that the config's ``custom_hooks`` lists."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if allow_nonfinite:
        kept = [h for h in hooks if not _is_nonfinite_loss_hook(h)]
        if len(kept) != len(hooks):
            print('--allow-nonfinite: NonFiniteLossHook removed from custom_hooks', flush=True)
            cfg.custom_hooks = kept
        return cfg
    default_hooks = dict(cfg.get('default_hooks', None) or {})
    if not any(h is not None and _is_nonfinite_loss_hook(h)
               for h in list(default_hooks.values()) + hooks):
        cfg.custom_hooks = hooks + [dict(type='NonFiniteLossHook')]
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
