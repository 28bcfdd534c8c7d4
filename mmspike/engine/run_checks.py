"""Checks of a run's data and config that fail before the first training step, with errors that
name the problem (instead of a decoder error in a dataloader worker hours into training).

* :func:`check_run_config` (called by :func:`mmspike.engine.runner.load_run_config`, so by
  ``tools/train.py`` and ``tools/test.py``): a pipeline ``clip_len`` that differs from the
  backbone's ``num_frames``; adds :class:`DatasetCheckHook` to ``custom_hooks``.
* :class:`DatasetCheckHook` (``before_run``, once the runner has built its datasets, model and
  dataloaders): every video of the annotation lists exists, is not empty, opens (a header probe
  that catches truncated files) and has at least ``clip_len`` frames; and no training batch has
  fewer clips than a layer of the model needs (``min_train_batch_size``, e.g.
  :class:`~mmspike.heads.action.SVFormerHead`'s BatchNorm3d needs 2).

The probe opens every video once (about 1 ms per small clip with decord; it reads the container's
packet index, so files cut short fail).  For huge datasets turn it off with
``--cfg-options dataset_check.probe=False`` (existence and size are still checked), or the
whole check with ``dataset_check.enable=False``.
"""
from __future__ import annotations

import itertools
import os
import os.path as osp
import time
from typing import Iterator, List, Optional, Tuple

#: dataloaders whose datasets and pipelines :func:`check_run_config` reads
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: seconds between two progress lines while probing a long annotation list
PROGRESS_EVERY_S = 10.0


class DataCheckError(ValueError):
    """A problem with a run's data found before the first training step."""


def _pipeline_clip_lens(dataset_cfg) -> List[Tuple[str, int]]:
    """``(where, clip_len)`` of a dataset config: its own ``clip_len`` and its pipeline steps'
    (``SampleFrames``, ``UniformSampleFrames``, ...); None values (whole videos) skipped."""
    found = []
    if dataset_cfg.get('clip_len', None) is not None:
        found.append((f"dataset {dataset_cfg.get('type')}", int(dataset_cfg['clip_len'])))
    for step in dataset_cfg.get('pipeline', None) or []:
        if isinstance(step, dict) and step.get('clip_len', None) is not None:
            found.append((f"pipeline step {step.get('type')}", int(step['clip_len'])))
    for key in ('dataset', 'datasets'):  # dataset wrappers
        inner = dataset_cfg.get(key, None)
        for child in (inner if isinstance(inner, (list, tuple)) else [inner]):
            if isinstance(child, dict):
                found.extend(_pipeline_clip_lens(child))
    return found


def check_clip_len(cfg) -> None:
    """Raise :class:`DataCheckError` when a dataloader's ``clip_len`` (the dataset's or a
    pipeline step's) or the model's ``test_cfg.clip_len`` differs from
    ``model.backbone.num_frames``: backbones built for ``num_frames`` steps (SVFormer's per-step
    BatchNorms, the heads' Conv3d over T) fail on other clip lengths, otherwise only at the
    first forward."""
    model = cfg.get('model', None) or {}
    backbone = model.get('backbone', None) or {}
    num_frames = backbone.get('num_frames', None)
    if num_frames is None:
        return
    sources = []
    for loader in DATALOADERS:
        dataset = (cfg.get(loader, None) or {}).get('dataset', None)
        if isinstance(dataset, dict):
            sources += [(f'{loader}: {where}', n) for where, n in _pipeline_clip_lens(dataset)]
    test_cfg = model.get('test_cfg', None) or {}
    if isinstance(test_cfg, dict) and test_cfg.get('clip_len', None) is not None:
        sources.append(('model.test_cfg', int(test_cfg['clip_len'])))
    wrong = [f'{where} clip_len={n}' for where, n in sources if n != int(num_frames)]
    if wrong:
        raise DataCheckError(
            f"config: clip_len differs from the backbone's num_frames: model.backbone "
            f"({backbone.get('type')}) num_frames={num_frames}, but {'; '.join(wrong)}; every "
            f'clip must have num_frames frames: set clip_len and num_frames (and a head\'s '
            f'num_frames) to the same value')


def check_run_config(cfg) -> None:
    """Config-level checks of a run (:func:`check_clip_len`), and :class:`DatasetCheckHook`
    added to ``cfg.custom_hooks`` with the options of ``cfg.dataset_check`` (a dict of the
    hook's arguments, plus ``enable``: False adds no hook; default: the hook's defaults).
    Called by :func:`mmspike.engine.runner.load_run_config`."""
    check_clip_len(cfg)
    options = dict(cfg.get('dataset_check', None) or {})
    if not options.pop('enable', True):
        return
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(isinstance(h, dict) and h.get('type') == 'DatasetCheckHook'
               for h in hooks):
        hooks.append(dict(type='DatasetCheckHook', **options))
        cfg.custom_hooks = hooks


def file_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a video, found without opening it (missing, unreadable, empty);
    None when there is no such reason."""
    try:
        return 'is empty (0 bytes)' if os.stat(path).st_size == 0 else None
    except FileNotFoundError:
        return 'does not exist'
    except OSError as error:
        return f'cannot be read ({error})'


def probe_video(path: str) -> Tuple[Optional[int], Optional[str]]:
    """``(frame count, None)`` of a video file, or ``(None, reason)`` when it cannot be used.

    Decord (the decoder of the configs' ``DecordInit``) reads the container's packet index when
    it opens a file, so a file cut short fails here; without decord, OpenCV's frame count."""
    problem = file_problem(path)
    if problem is not None:
        return None, problem
    try:
        import decord
    except ImportError:
        return _probe_cv2(path)
    try:
        frames = len(decord.VideoReader(path, num_threads=1))
    except Exception as error:  # decord raises its own DECORDError / RuntimeError
        detail = str(error).strip().splitlines()[0][-160:] if str(error).strip() else ''
        return None, (f'cannot be opened as a video ({osp.getsize(path)} bytes; truncated or '
                      f'not a video: {type(error).__name__} {detail})')
    return frames, None


def _probe_cv2(path: str) -> Tuple[Optional[int], Optional[str]]:
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return None, 'cannot be opened as a video (truncated or not a video)'
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), None
    finally:
        capture.release()


def leaf_datasets(dataset) -> Iterator:
    """The datasets inside mmengine's wrappers (Concat, Repeat, ClassBalanced)."""
    if hasattr(dataset, 'datasets'):
        for child in dataset.datasets:
            yield from leaf_datasets(child)
    elif hasattr(dataset, 'dataset'):
        yield from leaf_datasets(dataset.dataset)
    else:
        yield dataset


def required_frames(dataset) -> Tuple[Optional[int], str]:
    """The most frames a clip of ``dataset``'s pipeline takes (its steps' ``clip_len``, e.g.
    ``SampleFrames``) and the step's name; ``(None, '')`` when no step has one."""
    steps = getattr(getattr(dataset, 'pipeline', None), 'transforms', None) or []
    best, name = None, ''
    for step in steps:
        clip_len = getattr(step, 'clip_len', None)
        if isinstance(clip_len, int) and (best is None or clip_len > best):
            best, name = clip_len, type(step).__name__
    return best, name


def accepts_empty_event_files(dataset) -> bool:
    """Whether ``dataset``'s pipeline reads event files with ``LoadEvents(allow_empty=True)``
    (the embedded event dataset keeps clips an event camera barely sees)."""
    steps = getattr(getattr(dataset, 'pipeline', None), 'transforms', None) or []
    return any(type(step).__name__ == 'LoadEvents' and getattr(step, 'allow_empty', False)
               for step in steps)


def _data_infos(dataset) -> Iterator[dict]:
    if getattr(dataset, '_fully_initialized', True) is False:
        dataset.full_init()
    for index in range(len(dataset)):
        yield dataset.get_data_info(index)


EVENT_SUFFIXES = ('.npz', '.aedat')


def probe_event_file(path: str, allow_empty: bool = False) -> Optional[str]:
    """Why the event file ``path`` (:mod:`mmspike.datasets.events`) cannot be used, or None:
    it is read once with :func:`~mmspike.datasets.events.load_events`, which names a missing,
    empty, truncated or corrupt file, zero events (unless ``allow_empty``) and bad
    coordinates."""
    problem = file_problem(path)
    if problem is not None:
        return problem
    from ..datasets.events import load_events
    try:
        load_events(path, allow_empty=allow_empty)
    except (ValueError, OSError) as error:  # EventFileError is a ValueError
        return f'cannot be read as events: {error}'
    return None


def find_bad_videos(dataset, probe: bool = True, logger=None) -> Tuple[List[Tuple[str, str]], int]:
    """``([(file, reason), ...], number of entries checked)`` for the videos (``filename``),
    event files (``.npz`` / ``.aedat``, :func:`probe_event_file`) and frame folders
    (``frame_dir`` with ``total_frames``) of ``dataset``'s annotation list: missing,
    empty, unreadable (with ``probe``) or shorter than the pipeline's ``clip_len``.

    Args:
        dataset: a built dataset (mmengine ``BaseDataset``, e.g. MMAction2's ``VideoDataset``).
        probe (bool): open every video to read its frame count (:func:`probe_video`). Defaults
            to True.
        logger: an mmengine logger for progress lines on long lists. Defaults to None (none).
    """
    need, step = required_frames(dataset)
    allow_empty = accepts_empty_event_files(dataset)
    too_short = f'fewer than clip_len={need} ({step})'
    bad, checked, start, last_log = [], 0, time.time(), time.time()
    infos = _data_infos(dataset)
    first = next(infos, None)
    if first is None or not ('filename' in first or 'frame_dir' in first):
        return bad, 0  # no video list (e.g. the frame datasets, which check their own files)
    total = len(dataset)
    for info in itertools.chain([first], infos):
        checked += 1
        if 'filename' in info and str(info['filename']).endswith(EVENT_SUFFIXES):
            path = info['filename']  # event files become clip_len frames whatever their length
            reason = probe_event_file(path, allow_empty) if probe else file_problem(path)
            frames = None
        elif 'filename' in info:
            path = info['filename']
            if probe:
                frames, reason = probe_video(path)
            else:
                frames, reason = None, file_problem(path)
            if reason is None and need is not None and frames is not None and frames < need:
                reason = f'has {frames} frames, {too_short}'
        elif 'frame_dir' in info:
            path = info['frame_dir']
            reason = None if osp.isdir(path) else 'does not exist (frame folder)'
            frames = info.get('total_frames', None)
            if reason is None and need is not None and frames is not None and frames < need:
                reason = f'has {frames} frames (total_frames), {too_short}'
        else:
            continue
        if reason is not None:
            bad.append((path, reason))
        if logger is not None and time.time() - last_log > PROGRESS_EVERY_S:
            last_log = time.time()
            logger.info(f'dataset check: {checked}/{total} entries of '
                        f'{getattr(dataset, "ann_file", "?")} checked ({len(bad)} bad, '
                        f'{last_log - start:.0f} s)')
    return bad, checked


def check_dataset_videos(dataset, split: str = 'dataset', probe: bool = True,
                         max_listed: int = 5, logger=None) -> int:
    """Raise :class:`DataCheckError` listing the first ``max_listed`` unusable entries of
    ``dataset`` (:func:`find_bad_videos`), their count and the annotation file; return the
    number of entries checked.

    Args:
        dataset: a built dataset.
        split (str): what the error calls it (e.g. ``'train_dataloader'``). Defaults to
            ``'dataset'``.
        probe (bool): see :func:`find_bad_videos`. Defaults to True.
        max_listed (int): how many bad entries the message lists. Defaults to 5.
        logger: see :func:`find_bad_videos`. Defaults to None.
    """
    bad, checked = find_bad_videos(dataset, probe=probe, logger=logger)
    if bad:
        listed = '\n'.join(f'  {path}: {reason}' for path, reason in bad[:max_listed])
        more = f'\n  ... and {len(bad) - max_listed} more' if len(bad) > max_listed else ''
        events = all(str(path).endswith(EVENT_SUFFIXES) for path, _ in bad)
        raise DataCheckError(
            f'{split}: {len(bad)} of the {checked} {"event files" if events else "videos"} '
            f'listed in annotation file '
            f'{getattr(dataset, "ann_file", "?")!r} ({type(dataset).__name__}) cannot be used:\n'
            f'{listed}{more}\nfix or remove these entries (the check: mmspike.engine.run_checks; '
            f'--cfg-options dataset_check.probe=False skips opening the videos, '
            f'dataset_check.enable=False skips the whole check)')
    return checked


def _batch_layout(loader) -> Tuple[Optional[int], bool, object]:
    batch_sampler = getattr(loader, 'batch_sampler', None)
    batch_size = getattr(batch_sampler, 'batch_size', None) or getattr(loader, 'batch_size', None)
    drop_last = bool(getattr(batch_sampler, 'drop_last', getattr(loader, 'drop_last', False)))
    sampler = getattr(batch_sampler, 'sampler', None) or getattr(loader, 'sampler', None)
    return batch_size, drop_last, sampler


def smallest_train_batch(loader) -> Tuple[Optional[int], str]:
    """The fewest clips a batch of ``loader`` (per process) can have and why: the batch size, or
    the last batch of an epoch when the sampler's length leaves a remainder and ``drop_last`` is
    False (infinite samplers only give full batches)."""
    from mmengine.dataset import InfiniteSampler
    batch_size, drop_last, sampler = _batch_layout(loader)
    if batch_size is None:
        return None, ''
    why = f'batch_size={batch_size}'
    if drop_last or isinstance(sampler, InfiniteSampler) or sampler is None:
        return batch_size, why
    try:
        per_process = len(sampler)
    except TypeError:
        return batch_size, why
    remainder = per_process % batch_size
    if remainder and remainder < batch_size:
        return remainder, (f'the last batch of every epoch: {per_process} clips per process '
                           f'with batch_size={batch_size} leave {remainder} (drop_last=False)')
    return batch_size, why


def check_train_batch_size(model, loader) -> None:
    """Raise :class:`DataCheckError` when a training batch of ``loader`` can have fewer clips
    than a module of ``model`` needs (modules with a ``min_train_batch_size`` attribute, e.g.
    :class:`~mmspike.heads.action.SVFormerHead`, whose BatchNorm3d sees one value per channel and
    clip)."""
    smallest, why = smallest_train_batch(loader)
    if smallest is None:
        return
    for name, module in model.named_modules():
        need = getattr(module, 'min_train_batch_size', None)
        if isinstance(need, int) and smallest < need:
            name = name[len('module.'):] if name.startswith('module.') else name
            raise DataCheckError(
                f'train_dataloader: a training batch would hold {smallest} clip(s) per process '
                f'({why}), but model.{name} ({type(module).__name__}) needs at least {need} '
                f'(its BatchNorm normalises over the batch, one value per channel and clip); set '
                f'train_dataloader.batch_size >= {need}, or drop_last=True for a last batch of '
                f"one, or with >= 2 processes sync_bn='torch'")
