"""Datasets: real loaders per task, pipeline transforms, event files, embedded generators.

* ``datasets/action/``, ``datasets/pose/``, ``datasets/seg/``: loaders of the real on-disk
  releases (DVS128 Gesture, MMHPSD, Human3.6M, VSPW, Cityscapes sequences); each imports its
  codebase and is registered by its task adapter (``mmspike.action`` / ``.pose`` / ``.seg``).
* ``datasets/transforms/``: pipeline transforms (:mod:`mmspike.datasets.transforms`).
* :mod:`mmspike.datasets.events`: event-camera files (``.npz``; AEDAT 3.1 through spikingjelly)
  and their integration into two-polarity frames; :mod:`mmspike.datasets.clip_sampling`.
* ``datasets/synthetic/``: the embedded demo datasets, generated on first use
  (:func:`mmspike.datasets.synthetic.prepare_embedded_dataset`); they need OpenCV, not a task
  codebase, and are imported lazily.
"""
from .events import EventFileError, integrate_events, load_events, save_events
from .transforms import (ClipEventCounts, EventCenterCrop, EventFlip, EventRandomCrop,
                         EventRandomTemporalCrop, EventResize, FormatEventShape, GaussianNoise,
                         IntegrateEvents, LoadClipFrames, LoadEvents, SaltPepperNoise,
                         ShuffleFrames)

__all__ = ['ShuffleFrames', 'LoadClipFrames', 'GaussianNoise', 'SaltPepperNoise',
           'EventFileError', 'save_events', 'load_events', 'integrate_events', 'LoadEvents',
           'ClipEventCounts', 'EventRandomTemporalCrop', 'EventResize', 'EventRandomCrop',
           'EventCenterCrop', 'EventFlip', 'IntegrateEvents', 'FormatEventShape']
