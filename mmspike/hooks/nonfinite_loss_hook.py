"""Stop training at the first NaN or infinite loss: :class:`NonFiniteLossHook` raises
:class:`NonFiniteLossError`, naming the iteration, the loss terms and the batch's files, before
mmengine's ``CheckpointHook`` can save the step's parameters or ``LoggerHook`` log it.

mmengine itself trains on: a NaN in a pose target (or a diverging run) gives ``loss: nan`` for
the rest of the epoch, a checkpoint with NaN parameters and a failure somewhere else later."""
import math
import numbers
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from mmengine.hooks import Hook

from ..engine.run_checks import file_keys, format_item
from ..registry import HOOKS

#: metainfo keys that identify a sample besides its files (MMAction2's AVA, mmspike's pose and
#: segmentation clips, MMPose, MMSeg)
ID_KEYS = ('sample_idx', 'video_id', 'img_key', 'img_id', 'timestamp', 'action', 'subject',
           'frame_ids')


class NonFiniteLossError(FloatingPointError):
    """A loss term of a training step is NaN or infinite.

    Attributes:
        iteration (int): the step, counted from 1 (``runner.iter + 1``, as in the checkpoint
            names ``iter_<n>.pth``).
        losses (dict[str, float]): every loss term (a multi-element term by its first
            non-finite element).
        samples (list[str]): one line per sample of the batch: its files and identifiers.
        ranks (list[int]): the processes whose loss was non-finite (``[0]`` when not
            distributed).
    """

    def __init__(self, message: str, iteration: int, losses: Dict[str, float],
                 samples: List[str], ranks: List[int]):
        super().__init__(message)
        self.iteration = iteration
        self.losses = losses
        self.samples = samples
        self.ranks = ranks


def _scalars(value: Any) -> Optional[torch.Tensor]:
    """``value`` (tensor, number, numpy array or scalar, or a list of them) as a flat float64
    CPU tensor; None for anything else (a string, a dict)."""
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(-1).to('cpu', torch.float64)
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Number):
        return torch.tensor([float(value)], dtype=torch.float64)
    if hasattr(value, 'dtype') and hasattr(value, 'shape'):  # numpy
        try:
            return torch.as_tensor(value, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            return None
    if isinstance(value, (list, tuple)) and value:
        parts = [_scalars(v) for v in value]
        if all(p is not None for p in parts):
            return torch.cat(parts)
    return None


def _describe(values: torch.Tensor) -> str:
    """One value as ``nan`` / ``inf`` / ``0.1234``; several by their count of non-finite ones."""
    if values.numel() == 1:
        return f'{values.item():.6g}'
    bad = values[~torch.isfinite(values)]
    if bad.numel() == 0:
        return f'{values.numel()} finite values'
    return f'{bad.numel()} of {values.numel()} values non-finite (first {bad[0].item():.6g})'


def _representative(values: torch.Tensor) -> float:
    bad = values[~torch.isfinite(values)]
    return (bad[0] if bad.numel() else values[0]).item() if values.numel() else math.nan


def _metainfo(sample: Any) -> Mapping:
    meta = getattr(sample, 'metainfo', None)
    if isinstance(meta, Mapping):
        return meta
    return sample if isinstance(sample, Mapping) else {}


def describe_sample(sample: Any) -> Optional[str]:
    """The files (:func:`mmspike.engine.run_checks.file_keys`) and
    identifiers (:data:`ID_KEYS`) in a data sample's metainfo (an MMAction2
    ``ActionDataSample``, MMPose ``PoseDataSample``, MMSeg ``SegDataSample``, or a dict) as one
    line, ``key=value, ...``; None when it holds neither."""
    meta = _metainfo(sample)
    keys = file_keys(meta) + [k for k in ID_KEYS if meta.get(k) is not None]
    return ', '.join(format_item(k, meta[k]) for k in keys) or None


def describe_batch(data_batch: Any, max_samples: int) -> List[str]:
    """One line per sample of ``data_batch['data_samples']`` (:func:`describe_sample`), at most
    ``max_samples`` (then a line with the number left out); when no sample names a file, a line
    that says so, their metainfo keys and how to keep the file names."""
    samples = data_batch.get('data_samples') if isinstance(data_batch, Mapping) else None
    if samples is None:
        return ['(the batch has no data_samples: its files are unknown)']
    if not isinstance(samples, Sequence) or isinstance(samples, (str, bytes)):
        samples = [samples]
    lines = [describe_sample(s) for s in samples]
    shown = []
    if any(lines):
        shown = [f'[{i}] {line or "(no file or identifier in its metainfo)"}'
                 for i, line in enumerate(lines[:max_samples])]
        if len(lines) > max_samples:
            shown.append(f'... and {len(lines) - max_samples} more samples')
    if not any(file_keys(_metainfo(s)) for s in samples):
        keys = sorted({str(k) for s in samples for k in _metainfo(s)})
        shown.append(f'(the {len(samples)} data samples name no file; their metainfo keys: '
                     f'{", ".join(keys) or "none"}.  Keep a file key in the packing step, e.g. '
                     "PackActionInputs(meta_keys=('img_shape', 'filename')) for MMAction2 "
                     'videos)')
    return shown


def _position(runner, batch_idx: int) -> str:
    """``iteration 3 of 100`` (iteration-based loop) or ``iteration 3 (epoch 1, batch 3 of
    234)``."""
    from mmengine.runner import IterBasedTrainLoop
    iteration = runner.iter + 1
    loop = getattr(runner, 'train_loop', None)
    if isinstance(loop, IterBasedTrainLoop):
        return f'iteration {iteration} of {runner.max_iters}'
    try:
        batches = f' of {len(loop.dataloader)}'
    except (AttributeError, TypeError):
        batches = ''
    return f'iteration {iteration} (epoch {runner.epoch + 1}, batch {batch_idx + 1}{batches})'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` at the first training iteration whose loss terms (the
    keys of the ``train_step`` outputs that contain ``'loss'``: tensors, numbers or lists of
    them) hold a NaN or an infinity, after logging the same message with
    ``runner.logger.error``.

    The message names the iteration (``runner.iter + 1``, and the epoch and batch for an
    epoch-based loop), every loss term with its value, the other logged values, the files of the
    batch's samples (from their metainfo: ``filename``, ``frame_dir``, ``video``, ``img_path``,
    ``img_paths`` (the first and the count), ``seg_map_path``, any ``*_path`` / ``*_paths`` /
    ``*filename`` key, and identifiers such as ``sample_idx``, ``action``, ``frame_ids``) and the
    last checkpoint written.  MMAction2's ``PackActionInputs`` keeps no file name by default:
    add ``'filename'`` to its ``meta_keys`` to have the videos named.

    Priority ``HIGHEST``: it runs before every stock ``after_train_iter`` hook, so
    ``CheckpointHook`` writes no checkpoint of that iteration and ``LoggerHook`` logs no
    ``loss: nan`` line.  The optimizer has already stepped with that iteration's gradients when
    the hook runs: the model in memory may hold NaN parameters, the last checkpoint does not.
    Under ``AmpOptimWrapper`` a non-finite *loss* stops training too (the loss scaler only skips
    steps with non-finite gradients).  In a distributed run every process takes part in one
    small all-reduce per iteration, so that all stop at the same iteration (none is left waiting
    and rank 0 saves no checkpoint when another rank's loss is non-finite); the processes whose
    loss is non-finite name their batch.

    ``tools/train.py`` adds the hook to ``custom_hooks`` unless the config has one or
    ``--allow-nonfinite`` is given (mmengine's behaviour: train on).  Configs run with the stock
    MMAction2 / MMPose / MMSeg tools add it themselves:
    ``custom_hooks = [dict(type='NonFiniteLossHook')]`` (with ``mmspike`` in
    ``custom_imports``).

    Args:
        max_samples (int): at most this many samples of the batch are listed in the message.
            Defaults to 32.
    """

    priority = 'HIGHEST'

    def __init__(self, max_samples: int = 32) -> None:
        if int(max_samples) < 1:
            raise ValueError(f'max_samples must be >= 1, got {max_samples!r}')
        self.max_samples = int(max_samples)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Mapping] = None) -> None:
        terms = {}
        if isinstance(outputs, Mapping):
            terms = {str(k): _scalars(v) for k, v in outputs.items()}
            terms = {k: v for k, v in terms.items() if v is not None}
        losses = {k: v for k, v in terms.items() if 'loss' in k}
        local_bad = any(not bool(torch.isfinite(v).all()) for v in losses.values())
        ranks = self._nonfinite_ranks(local_bad)
        if not ranks:
            return
        position = _position(runner, batch_idx)
        last = runner.message_hub.get_info('last_ckpt')
        tail = (f'The last checkpoint written is {last}.' if last else
                'No checkpoint has been written in this run.')
        if local_bad:
            bad = [k for k, v in losses.items() if not bool(torch.isfinite(v).all())]
            others = [f'{k}={_describe(v)}' for k, v in terms.items() if k not in losses]
            samples = describe_batch(data_batch, self.max_samples)
            where = f' on rank {_rank()}' if _world_size() > 1 else ''
            message = (f'non-finite loss at {position}{where}: '
                       + ', '.join(f'{k}={_describe(v)}' for k, v in losses.items())
                       + f' (non-finite: {", ".join(bad)})'
                       + (f'; other outputs: {", ".join(others)}' if others else '')
                       + '.\nThe batch\'s samples:\n  ' + '\n  '.join(samples) + '\n' + tail
                       + ' Check these samples\' targets and inputs (or lower the learning rate '
                       'if the run diverged); tools/train.py --allow-nonfinite (or a config '
                       'without NonFiniteLossHook) trains on regardless.')
        else:
            samples = []
            message = (f'non-finite loss at {position} on rank(s) '
                       f'{", ".join(map(str, ranks))} (their error names the loss terms and '
                       f'the batch\'s files); this rank ({_rank()}) stops with them. ' + tail)
        runner.logger.error(message)
        raise NonFiniteLossError(message, runner.iter + 1,
                                 {k: _representative(v) for k, v in losses.items()}, samples,
                                 ranks)

    @staticmethod
    def _nonfinite_ranks(local_bad: bool) -> List[int]:
        """The ranks whose loss is non-finite (one all-reduce when distributed)."""
        world_size = _world_size()
        if world_size == 1:
            return [0] if local_bad else []
        from mmengine.dist import all_reduce
        flags = torch.zeros(world_size)
        flags[_rank()] = float(local_bad)
        all_reduce(flags, op='sum')
        return [i for i, flag in enumerate(flags.tolist()) if flag > 0]


def _world_size() -> int:
    from mmengine.dist import get_world_size
    return get_world_size()


def _rank() -> int:
    from mmengine.dist import get_rank
    return get_rank()
