"""Test a checkpoint with an mmspike / OpenMMLab config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options key=value ...]
                                           [--shuffle-frames] [--show-dir DIR]
                                           [--launcher pytorch]
    bash tools/dist_test.sh CONFIG CHECKPOINT N [args]

``--show-dir DIR`` writes pictures of the first test clips to DIR (relative: under the work dir):
for 3D pose configs MP4 videos of the predicted and ground-truth skeletons
(:class:`mmspike.hooks.PoseVideoHook`), for video segmentation configs the frames with the
ground truth and the prediction overlaid in class colours (:class:`mmspike.hooks.
SegClipVisualizationHook`, through MMSeg's visualizer).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

import mmspike  # noqa: E402,F401  (registers modules, applies compat repairs)
from mmspike.datasets import prepare_embedded_dataset  # noqa: E402
from mmspike.datasets.transforms import format_step_index  # noqa: E402
from mmspike.dist import init_distributed  # noqa: E402
from mmspike.hooks import PoseVideoHook, SegClipVisualizationHook  # noqa: E402
from mmspike.runner_utils import add_common_args, load_run_config  # noqa: E402


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
    add_common_args(parser)
    return parser.parse_args(argv)


def insert_shuffle_frames(pipeline):
    """Put ``ShuffleFrames`` before the step that formats the frames (``FormatShape`` for
    videos, ``FormatEventShape`` for integrated event frames)."""
    pipeline.insert(format_step_index(pipeline, '--shuffle-frames'),
                    dict(type='ShuffleFrames', seed=0))


SHOW_HOOKS = {'VideoPoseLifter': 'PoseVideoHook', 'VideoEncoderDecoder': 'SegClipVisualizationHook'}


def add_show_hook(cfg, show_dir):
    """Append the picture hook of the config's model type (:data:`SHOW_HOOKS`) writing to
    ``show_dir`` (relative: under ``cfg.work_dir``) to ``cfg.custom_hooks``; return the absolute
    output directory."""
    model_type = cfg.model.get('type')
    if model_type not in SHOW_HOOKS:
        raise ValueError(f'--show-dir is implemented for the models {sorted(SHOW_HOOKS)}; this '
                         f'config\'s model is {model_type!r}')
    out_dir = osp.abspath(show_dir if osp.isabs(show_dir) else osp.join(cfg.work_dir, show_dir))
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


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_run_config(args)
    cfg.load_from = args.checkpoint
    ensure_checkpoint_check(cfg)
    if args.shuffle_frames:
        insert_shuffle_frames(cfg.test_dataloader.dataset.pipeline)
    show_dir = add_show_hook(cfg, args.show_dir) if args.show_dir else None
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
        written = [path for hook in runner.hooks
                   if isinstance(hook, (PoseVideoHook, SegClipVisualizationHook))
                   for path in hook.written]
        kind = 'pose videos' if cfg.model.type == 'VideoPoseLifter' else 'segmented clips'
        print(f'{kind} ({len(written)}) in {show_dir}', flush=True)


if __name__ == '__main__':
    main()
