"""DVS128 Gesture (Amir et al., CVPR 2017) from its official release, for MMAction2."""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from mmaction.registry import DATASETS
from mmengine.logging import print_log

from ..events import EventFileError, load_events, save_events, slice_events
from .event_clips import EventClipDataset

SPLITS = ('train', 'test')
NUM_CLASSES = 11
SENSOR_SIZE = (128, 128)
# gesture_mapping.csv of the release: class 1..11 -> label 0..10
CLASSES = ('hand_clapping', 'right_hand_wave', 'left_hand_wave', 'right_arm_clockwise',
           'right_arm_counter_clockwise', 'left_arm_clockwise', 'left_arm_counter_clockwise',
           'arm_roll', 'air_drums', 'air_guitar', 'other_gestures')
CACHE_VERSION = 1


def read_trials(data_root: str, split: str) -> List[str]:
    """The ``.aedat`` names listed in ``trials_to_<split>.txt`` (blank lines skipped)."""
    path = osp.join(data_root, f'trials_to_{split}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'DVS128 Gesture: trial list {path!r} does not exist (expected '
                                f'the official DvsGesture/ folder with trials_to_train.txt and '
                                f'trials_to_test.txt)')
    with open(path) as f:
        trials = [line.strip() for line in f if line.strip()]
    if not trials:
        raise ValueError(f'DVS128 Gesture: trial list {path!r} names no .aedat files')
    return trials


def read_label_rows(csv_file: str) -> np.ndarray:
    """The ``class,startTime_usec,endTime_usec`` rows of a ``*_labels.csv`` (header skipped, as
    spikingjelly reads them), as an int64 array ``[K, 3]`` with classes checked in 1..11."""
    if not osp.isfile(csv_file):
        raise FileNotFoundError(f'DVS128 Gesture: label file {csv_file!r} does not exist')
    try:
        rows = np.loadtxt(csv_file, dtype=np.int64, delimiter=',', skiprows=1, ndmin=2)
    except ValueError as exc:
        raise ValueError(f'DVS128 Gesture: {csv_file}: expected rows "class,startTime_usec,'
                         f'endTime_usec" after a header line ({exc})') from exc
    if rows.shape[0] == 0 or rows.shape[1] != 3:
        raise ValueError(f'DVS128 Gesture: {csv_file}: expected at least one row of 3 columns '
                         f'(class, startTime_usec, endTime_usec), got shape {rows.shape}')
    bad = np.flatnonzero((rows[:, 0] < 1) | (rows[:, 0] > NUM_CLASSES))
    if bad.size:
        raise ValueError(f'DVS128 Gesture: {csv_file}: row {bad[0] + 1} has class '
                         f'{rows[bad[0], 0]} (expected 1..{NUM_CLASSES})')
    bad = np.flatnonzero(rows[:, 2] <= rows[:, 1])
    if bad.size:
        raise ValueError(f'DVS128 Gesture: {csv_file}: row {bad[0] + 1} ends at '
                         f'{rows[bad[0], 2]} us, not after its start {rows[bad[0], 1]} us')
    return rows


def _source_stamp(paths: List[str]) -> List[Tuple[str, int, int]]:
    return [(osp.basename(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]


def cut_recording(aedat_file: str, csv_file: str, out_dir: str,
                  rel_dir: str) -> List[Tuple[str, int]]:
    """Cut one recording into per-gesture event files.

    Row ``k`` of the csv gives ``<out_dir>/<stem>_<k>.npz`` with the events
    ``startTime_usec <= t < endTime_usec`` and label ``class - 1``, spikingjelly's rule
    (rows may overlap; their events then go to both samples).

    Returns:
        list[tuple[str, int]]: ``(<rel_dir>/<stem>_<k>.npz, label)`` per row.
    """
    rows = read_label_rows(csv_file)
    events = load_events(aedat_file, aedat_sensor_size=SENSOR_SIZE)
    stem = osp.splitext(osp.basename(aedat_file))[0]
    samples = []
    for k, (cls, start, end) in enumerate(rows):
        cut = slice_events(events, int(start), int(end))
        if cut['t'].size == 0:
            raise EventFileError(f'DVS128 Gesture: {aedat_file} has no events between '
                                 f'{start} and {end} us (row {k + 1} of {csv_file})')
        name = f'{stem}_{k}.npz'
        save_events(osp.join(out_dir, name), cut['t'], cut['x'], cut['y'], cut['p'],
                    *SENSOR_SIZE)
        samples.append((f'{rel_dir}/{name}', int(cls) - 1))
    return samples


def prepare_dvs128_gesture_cache(data_root: str, split: str, cache_dir: str) -> str:
    """Cut the recordings of ``split`` into per-gesture event files under ``cache_dir`` (once)
    and return the annotation list ``<cache_dir>/<split>_list.txt`` (``<split>/<stem>_<k>.npz
    LABEL`` lines).

    The list is written last, with ``<split>_sources.json`` (name, size and modification time
    of every source file): a cache whose sources changed, or an interrupted one, is rebuilt.
    """
    if split not in SPLITS:
        raise ValueError(f'DVS128 Gesture: split must be one of {SPLITS}, got {split!r}')
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'DVS128 Gesture: data_root {data_root!r} is not a folder '
                                f'(expected the official DvsGesture/ folder with '
                                f'user*_*.aedat, user*_*_labels.csv and trials_to_*.txt)')
    trials = read_trials(data_root, split)
    sources = []
    for name in trials:
        aedat = osp.join(data_root, name)
        if not osp.isfile(aedat):
            raise FileNotFoundError(f'DVS128 Gesture: {aedat!r}, listed in trials_to_{split}'
                                    f'.txt, does not exist')
        csv_file = osp.join(data_root, f'{osp.splitext(name)[0]}_labels.csv')
        if not osp.isfile(csv_file):
            raise FileNotFoundError(f'DVS128 Gesture: label file {csv_file!r} of {name} does '
                                    f'not exist')
        sources.append((aedat, csv_file))
    list_file = osp.join(cache_dir, f'{split}_list.txt')
    stamp_file = osp.join(cache_dir, f'{split}_sources.json')
    stamp = dict(version=CACHE_VERSION,
                 sources=_source_stamp([p for pair in sources for p in pair]))
    if osp.isfile(list_file) and osp.isfile(stamp_file):
        with open(stamp_file) as f:
            if json.load(f) == json.loads(json.dumps(stamp)):
                return list_file
    from ...engine.checkpoint import atomic_write_text
    out_dir = osp.join(cache_dir, split)
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for i, (aedat, csv_file) in enumerate(sources):
        print_log(f'DVS128 Gesture: cutting {aedat} ({i + 1}/{len(sources)}) into {out_dir}',
                  logger='current')
        for rel, label in cut_recording(aedat, csv_file, out_dir, split):
            lines.append(f'{rel} {label}\n')
    atomic_write_text(stamp_file, json.dumps(stamp))
    atomic_write_text(list_file, ''.join(lines))
    return list_file


@DATASETS.register_module()
class DVS128GestureDataset(EventClipDataset):
    """DVS128 Gesture from the official release, served as event clips.

    ``data_root`` is the release's ``DvsGesture/`` folder: ``user*_*.aedat`` (AEDAT 3.1,
    128 x 128), ``user*_*_labels.csv`` (``class,startTime_usec,endTime_usec``, classes 1..11)
    and ``trials_to_train.txt`` / ``trials_to_test.txt``.  On first use each recording of the
    split is read with spikingjelly's ``load_aedat_v3`` and cut by its csv rows as
    spikingjelly's own ``DVS128Gesture`` does (events ``start <= t < end``, label
    ``class - 1``; 1176 train and 288 test samples in the release), and every sample is saved
    as an event file (:mod:`mmspike.datasets.events`) in ``cache_dir``.  Later runs read the
    cache.  The samples then go through the pipeline like :class:`EventClipDataset`'s
    (``LoadEvents``, ``IntegrateEvents``, ...).  Under a distributed launch local rank 0
    writes the cache while the others wait.

    Reading the recordings is slow (spikingjelly decodes events in Python: minutes for the
    whole release), which is why the cut samples are cached.

    Args:
        data_root (str): the ``DvsGesture/`` folder.
        pipeline (list[dict | callable]): the data transforms.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        cache_dir (str, optional): where the cut samples go. Defaults to
            ``<data_root>/mmspike_cache``.
        test_mode (bool): building a validation or test set. Defaults to False.
        **kwargs: other arguments of :class:`EventClipDataset`.
    """

    METAINFO = dict(classes=CLASSES)

    def __init__(self,
                 data_root: str,
                 pipeline: List[Union[dict, Callable]],
                 split: str = 'train',
                 cache_dir: Optional[str] = None,
                 test_mode: bool = False,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'DVS128GestureDataset: split must be one of {SPLITS}, got '
                             f'{split!r}')
        self.split = split
        self.cache_dir = osp.abspath(cache_dir or osp.join(data_root, 'mmspike_cache'))
        super().__init__(ann_file=osp.join(self.cache_dir, f'{split}_list.txt'),
                         pipeline=pipeline, data_root=data_root,
                         data_prefix=dict(events=self.cache_dir), test_mode=test_mode,
                         num_classes=NUM_CLASSES, **kwargs)

    def load_data_list(self) -> List[Dict]:
        """Build the cache if needed, then read its annotation list."""
        from ...engine.dist import run_on_local_rank_zero
        run_on_local_rank_zero(
            lambda: prepare_dvs128_gesture_cache(self.data_root, self.split, self.cache_dir),
            f'caching DVS128 Gesture ({self.split}) in {self.cache_dir}')
        return super().load_data_list()
