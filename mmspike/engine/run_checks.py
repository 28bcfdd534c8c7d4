"""Checks of a run's data and config that fail before the first training step, with errors that
name the problem (instead of a decoder error in a dataloader worker hours into training, or a
metric silently computed on wrong labels).  Every problem found is listed in one error.

* :func:`check_run_config` (called by :func:`mmspike.engine.runner.load_run_config`, so by
  ``tools/train.py`` and ``tools/test.py``): a clip length (pipeline ``clip_len``,
  ``IntegrateEvents``' ``num_frames``) of any split that differs from the backbone's
  ``num_frames``; adds :class:`~mmspike.hooks.DatasetCheckHook` to ``custom_hooks``.
* :func:`check_annotation_lists` (the hook, when the Runner builds it, before any dataset is
  built): every line of the list files (MMAction2's video and rawframe lists, the event lists):
  empty lines, missing labels, labels that are not integers or lie outside ``[0,
  num_classes)``, malformed lines - each named with file and line number.
* :func:`find_bad_entries` (the hook, at ``before_run``, for every dataset the run uses): every
  file the data infos read (videos, event files, frame folders, frames, masks), each once:
  missing, empty, unreadable, too short for ``clip_len``; videos opened (``quick``) or every
  frame decoded (``full``, which finds corrupt video data behind a readable header), frames and
  masks decoded with the pipeline's own readers (``full``); labels against the model's
  ``num_classes``.  ``auto`` (the default) is ``full`` for datasets whose files take at most
  :data:`FULL_CHECK_MAX_BYTES`; the log gives the time each dataset took.
* :func:`check_train_batch_size`: no training batch has fewer clips than a layer of the model
  needs (``min_train_batch_size``, e.g. :class:`~mmspike.heads.action.SVFormerHead`'s
  BatchNorm3d needs 2).
* :func:`name_sample_errors`: an error raised while loading or transforming a sample (in a
  dataloader worker) names the sample's files.

Switches: ``--check full|quick|auto|off`` on mmspike's tools, or ``dataset_check=dict(mode=...,
probe=False, enable=False)`` in a config (``probe=False`` checks existence and size only).
"""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Iterator, List, Optional, Sequence, Tuple

#: dataloaders whose datasets and pipelines :func:`check_run_config` reads
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: seconds between two progress lines while probing a long annotation list
PROGRESS_EVERY_S = 10.0
#: pipeline steps whose ``num_frames`` is the clip length they output, with their default
FRAME_COUNT_STEPS = {'IntegrateEvents': 16}


class DataCheckError(ValueError):
    """A problem with a run's data found before the first training step."""


def _pipeline_clip_lens(dataset_cfg) -> List[Tuple[str, int]]:
    """``(where, clip_len)`` of a dataset config: its own ``clip_len`` and its pipeline steps'
    (``SampleFrames``, ``UniformSampleFrames``, ...; ``IntegrateEvents``' ``num_frames``), with
    ``where`` naming the key; None values (whole videos) skipped."""
    found = []
    if dataset_cfg.get('clip_len', None) is not None:
        found.append((f"dataset {dataset_cfg.get('type')} clip_len", int(dataset_cfg['clip_len'])))
    for step in dataset_cfg.get('pipeline', None) or []:
        if isinstance(step, dict) and step.get('clip_len', None) is not None:
            found.append((f"pipeline step {step.get('type')} clip_len", int(step['clip_len'])))
        elif isinstance(step, dict) and step.get('type') in FRAME_COUNT_STEPS:
            # event files become num_frames frames (IntegrateEvents' default: 16)
            frames = step.get('num_frames', FRAME_COUNT_STEPS[step['type']])
            found.append((f"pipeline step {step['type']} num_frames", int(frames)))
    for key in ('dataset', 'datasets'):  # dataset wrappers
        inner = dataset_cfg.get(key, None)
        for child in (inner if isinstance(inner, (list, tuple)) else [inner]):
            if isinstance(child, dict):
                found.extend(_pipeline_clip_lens(child))
    return found


def check_clip_len(cfg) -> None:
    """Raise :class:`DataCheckError` when a dataloader's ``clip_len`` (the dataset's or a
    pipeline step's, or ``IntegrateEvents``' ``num_frames``) or the model's ``test_cfg.clip_len``
    differs from
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
        sources.append(('model.test_cfg clip_len', int(test_cfg['clip_len'])))
    wrong = [f'{where}={n}' for where, n in sources if n != int(num_frames)]
    if wrong:
        raise DataCheckError(
            f"config: a clip length differs from the backbone's num_frames: model.backbone "
            f"({backbone.get('type')}) num_frames={num_frames}, but {'; '.join(wrong)}; every "
            f'clip must have num_frames frames: set clip_len and num_frames (and a head\'s '
            f'num_frames) to the same value')


def check_run_config(cfg, splits: Optional[Sequence[str]] = None) -> None:
    """Config-level checks of a run (:func:`check_clip_len`), and :class:`DatasetCheckHook`
    added to ``cfg.custom_hooks`` with the options of ``cfg.dataset_check`` (a dict of the
    hook's arguments, plus ``enable``: False adds no hook; default: the hook's defaults) and
    ``splits`` (the splits whose annotation lists it reads; None: all).  Called by
    :func:`mmspike.engine.runner.load_run_config`."""
    check_clip_len(cfg)
    options = dict(cfg.get('dataset_check', None) or {})
    if not options.pop('enable', True):
        return
    if splits is not None:
        options.setdefault('splits', list(splits))
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(isinstance(h, dict) and h.get('type') == 'DatasetCheckHook'
               for h in hooks):
        hooks.append(dict(type='DatasetCheckHook', **options))
        cfg.custom_hooks = hooks


# --- annotation lists (read as text, before any dataset is built) ---------------------------

#: the list-file datasets whose lines the run check reads (config ``type`` -> format)
LIST_DATASETS = {'VideoDataset': 'video', 'RawframeDataset': 'rawframes',
                 'EventClipDataset': 'events'}
LIST_LINE_FORMATS = {'video': 'FILE LABEL', 'rawframes': 'FRAME_DIR [OFFSET] TOTAL_FRAMES LABEL',
                     'events': 'relative/path.npz LABEL'}
#: problems listed in one error before the rest are only counted
MAX_REPORTED = 50


def _integer(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None


def annotation_line_problem(line: str, kind: str, num_classes: Optional[int] = None,
                            multi_class: bool = False, with_offset: bool = False,
                            delimiter: Optional[str] = ' ') -> Optional[str]:
    """Why one line of an annotation list cannot be one labelled clip, or None.

    The rules are those of the readers (MMAction2's ``VideoDataset`` and ``RawframeDataset``,
    :class:`~mmspike.datasets.action.EventClipDataset`), made strict where the reader silently
    changes the data: an empty line (MMAction2 reads it as one more clip with no file), a line
    without a label (MMAction2 gives it label -1: it trains nothing and scores as a wrong
    prediction), labels that are not integers or lie outside ``[0, num_classes)``.

    Args:
        line (str): the line, without its line break.
        kind (str): ``'video'``, ``'rawframes'`` or ``'events'`` (:data:`LIST_DATASETS`).
        num_classes (int, optional): labels must be below it. Defaults to None (only >= 0).
        multi_class (bool): several labels per line. Defaults to False.
        with_offset (bool): rawframes lines carry an offset before ``TOTAL_FRAMES``. Defaults
            to False.
        delimiter (str, optional): the field separator of ``'video'`` and ``'events'`` lines
            (None: any whitespace; rawframes lines always split on whitespace). Defaults to
            ``' '``.

    Returns:
        str | None: the problem.
    """
    text = line.strip()
    if not text:
        if kind == 'events':  # EventClipDataset skips blank lines
            return None
        return 'is empty (MMAction2 would read it as one more clip, with no file and label -1)'
    fields = text.split() if kind == 'rawframes' else text.split(delimiter)
    if kind == 'rawframes':
        head = 3 if with_offset else 2
        if len(fields) < head:
            expected = LIST_LINE_FORMATS[kind].replace(' [OFFSET]',
                                                       ' OFFSET' if with_offset else '')
            return f'has {len(fields)} field(s), expected {expected}'
        for name, value in zip(('OFFSET', 'TOTAL_FRAMES') if with_offset else ('TOTAL_FRAMES', ),
                               fields[1:head]):
            number = _integer(value)
            if number is None or number < 0:
                return f'{name} {value!r} is not a non-negative integer'
    else:
        head = 1
        if not multi_class and len(fields) > 2:
            return (f'has {len(fields)} fields separated by {delimiter or "whitespace"!r}, '
                    f'expected 2: {LIST_LINE_FORMATS[kind]}')
    labels = fields[head:]
    if not labels:
        return ('has no label (MMAction2 would give it label -1: it trains nothing and scores as '
                'a wrong prediction)')
    if not multi_class and len(labels) > 1:
        return f'has {len(labels)} labels, but the dataset is not multi_class'
    for label in labels:
        value = _integer(label)
        if value is None:
            return f'label {label!r} is not an integer'
        problem = _label_range_problem(value, num_classes)
        if problem is not None:
            return problem
    return None


def _label_range_problem(value: int, num_classes: Optional[int]) -> Optional[str]:
    """``label <value> is outside [0, num_classes)`` (``>= 0`` without ``num_classes``), or
    None when the label is in range."""
    if value < 0 or (num_classes is not None and value >= num_classes):
        bound = f'[0, {num_classes})' if num_classes is not None else '>= 0'
        return f'label {value} is outside {bound}'
    return None


def _leaf_dataset_cfgs(dataset_cfg) -> Iterator[dict]:
    """The dataset configs inside dataset wrapper configs (``dataset=`` / ``datasets=``)."""
    inner = None
    for key in ('dataset', 'datasets'):
        if dataset_cfg.get(key, None) is not None:
            inner = dataset_cfg[key]
    if inner is None:
        yield dataset_cfg
        return
    for child in (inner if isinstance(inner, (list, tuple)) else [inner]):
        if isinstance(child, dict):
            yield from _leaf_dataset_cfgs(child)


def model_num_classes(cfg) -> Optional[int]:
    """``num_classes`` of the config's classification head (``model.cls_head``), or None."""
    model = cfg.get('model', None) or {}
    head = model.get('cls_head', None)
    if isinstance(head, dict) and head.get('num_classes', None) is not None:
        return int(head['num_classes'])
    return None


def find_annotation_problems(cfg, splits: Optional[Sequence[str]] = None
                             ) -> List[Tuple[str, str, int, str, str]]:
    """Every problem of the annotation lists that the ``splits`` (``'train'``, ``'val'``,
    ``'test'``; None: every dataloader of the config) read: ``(split, file, line number,
    line, problem)``, line 0 for the file itself (missing).  Only list-file datasets
    (:data:`LIST_DATASETS`) have lines to check; labels are checked against the model's
    ``num_classes`` (:func:`model_num_classes`), or the dataset's."""
    problems = []
    model_classes = model_num_classes(cfg)
    loaders = DATALOADERS if splits is None else [f'{split}_dataloader' for split in splits]
    seen = set()
    for loader in loaders:
        loader_cfg = cfg.get(loader, None)
        if not isinstance(loader_cfg, dict) or not isinstance(loader_cfg.get('dataset'), dict):
            continue
        split = loader[:-len('_dataloader')]
        for dataset_cfg in _leaf_dataset_cfgs(loader_cfg['dataset']):
            kind = LIST_DATASETS.get(str(dataset_cfg.get('type', '')).split('.')[-1])
            ann_file = dataset_cfg.get('ann_file', None)
            if kind is None or not ann_file:
                continue
            root = dataset_cfg.get('data_root', None)
            if root and not osp.isabs(ann_file):
                ann_file = osp.join(root, ann_file)
            if (split, ann_file) in seen:
                continue
            seen.add((split, ann_file))
            if not osp.isfile(ann_file):
                problems.append((split, ann_file, 0, '', 'does not exist'))
                continue
            num_classes = model_classes
            if num_classes is None and dataset_cfg.get('num_classes', None) is not None:
                num_classes = int(dataset_cfg['num_classes'])
            default_delimiter = None if kind == 'events' else ' '
            options = dict(num_classes=num_classes,
                           multi_class=bool(dataset_cfg.get('multi_class', False)),
                           with_offset=bool(dataset_cfg.get('with_offset', False)),
                           delimiter=dataset_cfg.get('delimiter', default_delimiter))
            with open(ann_file, encoding='utf-8', errors='replace') as f:
                lines = f.read().splitlines()
            for number, line in enumerate(lines, 1):
                problem = annotation_line_problem(line, kind, **options)
                if problem is not None:
                    problems.append((split, ann_file, number, line, problem))
    return problems


def check_annotation_lists(cfg, splits: Optional[Sequence[str]] = None) -> None:
    """Raise :class:`DataCheckError` listing every problem of :func:`find_annotation_problems`
    (file, line number, the line and the problem; at most :data:`MAX_REPORTED`, then a
    count)."""
    problems = find_annotation_problems(cfg, splits)
    if not problems:
        return
    listed = []
    for split, ann_file, number, line, problem in problems[:MAX_REPORTED]:
        where = f'{ann_file} line {number}' if number else ann_file
        shown = f' ({line.strip()!r})' if line.strip() else ''
        listed.append(f'  {split}: {where}{shown}: {problem}')
    more = (f'\n  ... and {len(problems) - MAX_REPORTED} more'
            if len(problems) > MAX_REPORTED else '')
    files = sorted({ann_file for _, ann_file, _, _, _ in problems})
    raise DataCheckError(
        f'{len(problems)} problem(s) in the annotation list(s) {", ".join(files)}:\n'
        + '\n'.join(listed) + more
        + '\nfix these lines (the check: mmspike.engine.run_checks; --check off or '
        '--cfg-options dataset_check.enable=False skips the whole run check)')


# --- files of the built datasets ------------------------------------------------------------

#: ``mode`` values of the file check (``--check``): ``auto`` is ``full`` for datasets whose
#: files take at most :data:`FULL_CHECK_MAX_BYTES`, else ``quick``
CHECK_MODES = ('auto', 'full', 'quick', 'off')
FULL_CHECK_MAX_BYTES = 2 * 1024**3
EVENT_SUFFIXES = ('.npz', '.aedat')


def file_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a data file, found without opening it (missing, unreadable,
    empty); None when there is no such reason."""
    try:
        return 'is empty (0 bytes)' if os.stat(path).st_size == 0 else None
    except FileNotFoundError:
        return 'does not exist'
    except OSError as error:
        return f'cannot be read ({error})'


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f'{type(error).__name__} {text.splitlines()[0][-160:] if text else ""}'.strip()


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
        return None, (f'cannot be opened as a video ({osp.getsize(path)} bytes; truncated or '
                      f'not a video: {_first_line(error)})')
    return frames, None


#: frames decoded per call by :func:`decode_video`
DECODE_CHUNK = 32


def decode_video(path: str) -> Tuple[Optional[int], Optional[str]]:
    """Decode every frame of a video, as the pipeline's decoder does (decord; OpenCV without
    it): ``(frame count, None)``, or ``(None, reason)`` naming the first frame that fails.

    A file whose header and packet index are intact but whose video data is corrupt opens
    (:func:`probe_video` passes it) and fails only when those frames are decoded."""
    frames, problem = probe_video(path)
    if problem is not None:
        return None, problem
    try:
        import decord
    except ImportError:
        return _decode_cv2(path, frames)
    reader = decord.VideoReader(path, num_threads=1)
    for start in range(0, frames, DECODE_CHUNK):
        indices = list(range(start, min(frames, start + DECODE_CHUNK)))
        try:
            reader.get_batch(indices)
        except Exception as error:
            first = _first_bad_frame(path, indices)
            return None, (f'frame {first} of {frames} cannot be decoded (corrupt video data: '
                          f'{_first_line(error)})')
    return frames, None


def _first_bad_frame(path: str, indices: List[int]) -> int:
    """The first of ``indices`` that a fresh decord reader fails to decode (the first index
    when each decodes alone)."""
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
    except Exception:
        return indices[0]
    for index in indices:
        try:
            reader[index]
        except Exception:
            return index
    return indices[0]


def _probe_cv2(path: str) -> Tuple[Optional[int], Optional[str]]:
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return None, 'cannot be opened as a video (truncated or not a video)'
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), None
    finally:
        capture.release()


def _decode_cv2(path: str, frames: int) -> Tuple[Optional[int], Optional[str]]:
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        for index in range(frames):
            ok, _ = capture.read()
            if not ok:
                return None, f'frame {index} of {frames} cannot be decoded (corrupt video data)'
        return frames, None
    finally:
        capture.release()


def image_problem(path: str, mask: bool = False) -> Optional[str]:
    """Why a frame (OpenCV, as :class:`~mmspike.datasets.transforms.LoadClipFrames` reads it)
    or a mask (PIL, as ``LoadClipSegMaps``) cannot be decoded, or None."""
    try:
        if mask:
            from ..datasets.transforms.seg_transforms import read_mask
            read_mask(path)
        else:
            from ..datasets.transforms.clip_transforms import read_frame
            read_frame(path)
    except OSError as error:
        return f'cannot be decoded as {"a mask" if mask else "an image"} ({_first_line(error)})'
    return None


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


def entry_files(info: dict) -> List[Tuple[str, str]]:
    """``[(kind, path), ...]`` of the files one data info reads: ``video`` / ``events``
    (``filename``), ``frame_dir``, ``image`` (``img_path``, ``img_paths``) and ``mask``
    (``seg_map_path``, ``seg_map_paths``; None entries are frames without a mask)."""
    files = []
    if info.get('filename', None) is not None:
        path = str(info['filename'])
        files.append(('events' if path.endswith(EVENT_SUFFIXES) else 'video', path))
    if info.get('frame_dir', None) is not None:
        files.append(('frame_dir', str(info['frame_dir'])))
    for key, kind in (('img_path', 'image'), ('img_paths', 'image'),
                      ('seg_map_path', 'mask'), ('seg_map_paths', 'mask')):
        value = info.get(key, None)
        for path in (value if isinstance(value, (list, tuple)) else [value]):
            if path is not None:
                files.append((kind, str(path)))
    return files


#: data-info / metainfo keys that name a sample's files, in the order they are listed; any
#: other key that ends in ``_path``, ``_paths`` or ``filename`` follows them
FILE_KEYS = ('filename', 'frame_dir', 'video', 'img_path', 'img_paths', 'seg_map_path',
             'seg_map_paths')
FILE_SUFFIXES = ('_path', '_paths', 'filename')


def file_keys(meta) -> List[str]:
    """The keys of ``meta`` (a data info or a sample's metainfo) that name its files
    (:data:`FILE_KEYS`, then the other ``*_path`` / ``*_paths`` / ``*filename`` keys), without
    those set to None."""
    keys = [k for k in FILE_KEYS if k in meta]
    keys += sorted(k for k in meta if isinstance(k, str) and k.endswith(FILE_SUFFIXES)
                   and k not in keys)
    return [k for k in keys if meta[k] is not None]


def format_item(key: str, value) -> str:
    """``key=value`` for a message: a list of paths as its first and its count, other long
    lists as first .. last and their count (tensors and arrays as lists)."""
    if hasattr(value, 'tolist') and hasattr(value, 'shape'):  # torch / numpy
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if not value:
            return f'{key}=[]'
        if key.endswith(FILE_SUFFIXES) or key in FILE_KEYS:
            more = f', ... ({len(value)} files)' if len(value) > 1 else ''
            return f'{key}=[{value[0]!s}{more}]'
        if len(value) > 8:
            return f'{key}=[{value[0]!s} .. {value[-1]!s}] ({len(value)} items)'
        return f'{key}={list(value)!s}'
    return f'{key}={value!s}'


def describe_files(meta) -> str:
    """The files of a data info or a sample's metainfo in a few words (:func:`file_keys`,
    :func:`format_item`)."""
    return ', '.join(format_item(k, meta[k]) for k in file_keys(meta)) or 'no file'


def label_problem(label, num_classes: Optional[int]) -> Optional[str]:
    """Why a data info's ``label`` (int or a sequence of ints) cannot be used, or None."""
    import numpy as np
    values = np.asarray(label).reshape(-1)
    if values.size == 0:
        return 'has no label'
    if not np.issubdtype(values.dtype, np.integer):
        return f'label {label!r} is not an integer'
    for value in values:
        problem = _label_range_problem(int(value), num_classes)
        if problem is not None:
            return problem + (' (no label in the list)' if value == -1 else '')
    return None


def find_bad_entries(dataset, mode: str = 'auto', logger=None,
                     num_classes: Optional[int] = None
                     ) -> Tuple[List[Tuple[str, str]], int, str]:
    """``([(file, reason), ...], number of entries checked, mode used)`` for every file the
    data infos of ``dataset`` read (:func:`entry_files`; each file once) and their labels.

    * every mode: files missing, unreadable or empty; frame folders missing; videos and frame
      folders shorter than the pipeline's ``clip_len``; ``label`` outside ``[0, num_classes)``;
    * ``quick``: videos opened (:func:`probe_video`, the packet index), event files read;
    * ``full``: also every frame of every video decoded (:func:`decode_video`) and every image
      and mask decoded (:func:`image_problem`);
    * ``auto``: ``full`` when the files take at most :data:`FULL_CHECK_MAX_BYTES`, else
      ``quick``;
    * ``exists``: only the first bullet (``dataset_check.probe=False``).

    Args:
        dataset: a built dataset (mmengine ``BaseDataset``).
        mode (str): see above. Defaults to ``'auto'``.
        logger: an mmengine logger for progress lines on long lists. Defaults to None (none).
        num_classes (int, optional): labels must be below it. Defaults to None (only >= 0).
    """
    need, step = required_frames(dataset)
    allow_empty = accepts_empty_event_files(dataset)
    too_short = f'fewer than clip_len={need} ({step})'
    infos = list(_data_infos(dataset))
    bad, sizes, problems = [], {}, {}
    for info in infos:  # existence and size of every file first (they decide 'auto')
        for kind, path in entry_files(info):
            if path in sizes:
                continue
            if kind == 'frame_dir':
                problems[path] = None if osp.isdir(path) else 'does not exist (frame folder)'
                sizes[path] = 0
                continue
            problems[path] = file_problem(path)
            sizes[path] = osp.getsize(path) if problems[path] is None else 0
    if mode == 'auto':
        mode = 'full' if sum(sizes.values()) <= FULL_CHECK_MAX_BYTES else 'quick'
    checked, start, last_log = 0, time.time(), time.time()
    frame_counts = {}
    for info in infos:
        checked += 1
        if 'label' in info and info['label'] is not None:
            reason = label_problem(info['label'], num_classes)
            if reason is not None:
                bad.append((describe_files(info), reason))
        for kind, path in entry_files(info):
            if path not in frame_counts:
                frame_counts[path] = None
                if problems[path] is None and mode != 'exists':
                    if kind == 'video':
                        frame_counts[path], problems[path] = (
                            decode_video(path) if mode == 'full' else probe_video(path))
                    elif kind == 'events':
                        problems[path] = probe_event_file(path, allow_empty)
                    elif kind in ('image', 'mask') and mode == 'full':
                        problems[path] = image_problem(path, mask=kind == 'mask')
                if problems[path] is not None:
                    bad.append((path, problems[path]))
            if problems[path] is not None or need is None:
                continue
            frames = frame_counts[path] if kind == 'video' else (
                info.get('total_frames', None) if kind == 'frame_dir' else None)
            if frames is not None and frames < need:
                detail = ' (total_frames)' if kind == 'frame_dir' else ''
                bad.append((path, f'has {frames} frames{detail}, {too_short}'))
        if logger is not None and time.time() - last_log > PROGRESS_EVERY_S:
            last_log = time.time()
            logger.info(f'dataset check: {checked}/{len(infos)} entries of '
                        f'{getattr(dataset, "ann_file", "?")} checked ({len(bad)} bad, '
                        f'{last_log - start:.0f} s)')
    return bad, checked, mode


def dataset_problems(dataset, split: str, bad: List[Tuple[str, str]], checked: int,
                     max_listed: int = 5) -> str:
    """The report of one dataset's bad entries (the first ``max_listed``, their count and the
    annotation file)."""
    listed = '\n'.join(f'  {path}: {reason}' for path, reason in bad[:max_listed])
    more = f'\n  ... and {len(bad) - max_listed} more' if len(bad) > max_listed else ''
    paths = [path for path, _ in bad]
    what = ('event files' if all(p.endswith(EVENT_SUFFIXES) for p in paths) else
            'videos' if all(p.endswith(('.mp4', '.avi', '.mkv', '.webm', '.mov')) for p in paths)
            else 'entries')
    ann_file = getattr(dataset, 'ann_file', '') or getattr(dataset, 'data_root', '') or '?'
    return (f'{split}: {len(bad)} problem(s) in the {checked} {what} listed in annotation file '
            f'{ann_file!r} ({type(dataset).__name__}):\n{listed}{more}')


def check_dataset_files(dataset, split: str = 'dataset', mode: str = 'auto',
                        max_listed: int = 5, logger=None,
                        num_classes: Optional[int] = None, probe: bool = True) -> int:
    """Raise :class:`DataCheckError` with the problems of :func:`find_bad_entries` (the first
    ``max_listed``, their count and the annotation file); return the number of entries
    checked.

    Args:
        dataset: a built dataset.
        split (str): what the error calls it (e.g. ``'train_dataloader'``). Defaults to
            ``'dataset'``.
        mode (str): see :func:`find_bad_entries`. Defaults to ``'auto'``.
        max_listed (int): how many bad entries the message lists. Defaults to 5.
        logger: see :func:`find_bad_entries`. Defaults to None.
        num_classes (int, optional): see :func:`find_bad_entries`. Defaults to None.
        probe (bool): False checks existence and size only (``mode='exists'``). Defaults to
            True.
    """
    bad, checked, _ = find_bad_entries(dataset, mode if probe else 'exists', logger,
                                       num_classes)
    if bad:
        raise DataCheckError(dataset_problems(dataset, split, bad, checked, max_listed)
                             + '\n' + FIX_HINT)
    return checked


FIX_HINT = ('fix or remove these entries (the check: mmspike.engine.run_checks; --check quick '
            'opens videos without decoding them, --cfg-options dataset_check.probe=False only '
            'checks that files exist, --check off or dataset_check.enable=False skips the whole '
            'check)')


class SampleLoadError(RuntimeError):
    """Loading or transforming one sample failed; the message names its files."""


class NameSampleErrors:
    """``dataset.prepare_data`` wrapped so that an error names the sample's index and files
    (it is raised in a dataloader worker, whose traceback otherwise names a decoder).  Set by
    :func:`name_sample_errors`; picklable (module-level class, bound method)."""

    def __init__(self, dataset, prepare_data):
        self.dataset = dataset
        self.prepare_data = prepare_data

    def __call__(self, index):
        try:
            return self.prepare_data(index)
        except SampleLoadError:
            raise
        except Exception as error:
            try:
                where = describe_files(self.dataset.get_data_info(index))
            except Exception:
                where = 'files unknown'
            raise SampleLoadError(
                f'{type(self.dataset).__name__} sample {index} ({where}): '
                f'{type(error).__name__}: {error}') from error


def name_sample_errors(dataset) -> None:
    """Make errors in ``dataset``'s loading and transforms name the sample's files
    (:class:`NameSampleErrors`; idempotent)."""
    if not isinstance(dataset.__dict__.get('prepare_data', None), NameSampleErrors):
        dataset.prepare_data = NameSampleErrors(dataset, dataset.prepare_data)


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
