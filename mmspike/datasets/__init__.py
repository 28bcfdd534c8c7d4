"""Datasets shipped with mmspike (generators; no task codebase imported).

Embedded, generated datasets (imported lazily: they need OpenCV, not torch):

* ``motion_clips`` (:mod:`mmspike.datasets.motion_clips`): the action-recognition demo dataset,
  MP4s with MMAction2 annotation lists;
* ``motion_events`` (:mod:`mmspike.datasets.motion_events`): the same clips as event streams
  (:mod:`mmspike.datasets.event_sim`), ``.npz`` files with event annotation lists;
* ``pose_clips`` (:mod:`mmspike.datasets.pose_clips`): 3D human pose video in the on-disk layout
  of MMHPSD;
* ``seg_clips`` (:mod:`mmspike.datasets.seg_clips`): video semantic segmentation (frames and
  per-pixel masks) in the on-disk layout of VSPW.

:class:`ShuffleFrames` is the frame-order control transform; :class:`GaussianNoise` and
:class:`SaltPepperNoise` (:mod:`mmspike.datasets.noise`) are the test-time noise of the
robustness evaluation (``tools/analysis/robustness.py``).
Event cameras: :mod:`mmspike.datasets.events` reads and writes event streams (``.npz``, and
AEDAT 3.1 through spikingjelly) and integrates them into two-polarity frames;
:mod:`mmspike.datasets.event_transforms` holds the pipeline transforms (:class:`LoadEvents`,
:class:`IntegrateEvents`, :class:`FormatEventShape`, ...).  The MMAction2 event datasets are in
:mod:`mmspike.datasets.action` (registered by ``mmspike.action``).
:class:`DatasetCheckHook` (:mod:`mmspike.datasets.checks`) checks the videos of the annotation
lists and the training batch size before a run starts.
"""
import os
import os.path as osp
import time

from .checks import DataCheckError, DatasetCheckHook
from .event_transforms import (ClipEventCounts, EventCenterCrop, EventFlip, EventRandomCrop,
                               EventRandomTemporalCrop, EventResize, FormatEventShape,
                               IntegrateEvents, LoadEvents)
from .events import EventFileError, integrate_events, load_events, save_events
from .noise import GaussianNoise, SaltPepperNoise
from .transforms import ShuffleFrames

__all__ = ['prepare_embedded_dataset', 'ShuffleFrames', 'GaussianNoise', 'SaltPepperNoise',
           'DatasetCheckHook', 'DataCheckError', 'EventFileError', 'save_events', 'load_events',
           'integrate_events', 'LoadEvents', 'ClipEventCounts', 'EventRandomTemporalCrop',
           'EventResize', 'EventRandomCrop', 'EventCenterCrop', 'EventFlip', 'IntegrateEvents',
           'FormatEventShape']


GENERATORS = ('motion_clips', 'motion_events', 'pose_clips', 'seg_clips')


def prepare_embedded_dataset(cfg, timeout_s=600):
    """Generate the embedded dataset a config names in ``embedded_dataset`` (idempotent):
    ``dict(root=..., generator='motion_clips' | 'motion_events' | 'pose_clips' | 'seg_clips',
    **arguments of its write_dataset)``; ``generator`` defaults to ``'motion_clips'``.

    Under a distributed launch only local rank 0 writes.  When the process group is already
    initialised (``tools/train.py`` and ``tools/test.py`` start it first) the other processes
    wait at a collective until it has finished (:func:`mmspike.dist.run_on_local_rank_zero`;
    an error on rank 0 is raised on every process); without one they wait for its
    ``meta.json`` for up to ``timeout_s`` seconds.  Does nothing for configs without
    ``embedded_dataset``.
    """
    spec = cfg.get('embedded_dataset', None)
    if not spec:
        return None
    spec = dict(spec)
    root = spec.pop('root')
    generator = spec.pop('generator', 'motion_clips')
    if generator not in GENERATORS:
        raise ValueError(f'embedded_dataset.generator must be one of {GENERATORS}, got '
                         f'{generator!r}')

    def write():
        import importlib
        module = importlib.import_module(f'{__name__}.{generator}')
        return module.write_dataset(root, **spec)

    from mmengine.dist import is_distributed
    if is_distributed():
        from ..dist import run_on_local_rank_zero
        return run_on_local_rank_zero(write, f'writing the embedded dataset in {root!r}')
    if int(os.environ.get('LOCAL_RANK', '0')) == 0:
        return write()
    deadline = time.time() + timeout_s
    while not osp.isfile(osp.join(root, 'meta.json')):
        if time.time() > deadline:
            raise TimeoutError(f'rank {os.environ.get("LOCAL_RANK")} waited {timeout_s}s for '
                               f'local rank 0 to write the embedded dataset in {root!r}')
        time.sleep(1)
    return None
