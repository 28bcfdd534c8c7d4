"""MMAction2-side event datasets (imports MMAction2).

Importing this package registers, in ``mmaction.registry.DATASETS``:

* :class:`EventClipDataset`: event files (:mod:`mmspike.datasets.events`) listed with labels in
  an annotation file (``relative/path.npz LABEL`` per line, like MMAction2's ``VideoDataset``);
* :class:`DVS128GestureDataset`: the official DVS128 Gesture release (``DvsGesture/``), cut into
  per-gesture event files once and cached on disk.

Both feed the event transforms of :mod:`mmspike.datasets.transforms.event_transforms`
(``LoadEvents``, ``IntegrateEvents``, ``FormatEventShape``, ...).  Loaded by ``mmspike.action``.
"""
from ...engine.compat import prepare_codebase

prepare_codebase('action')  # before MMAction2 is imported

from .dvs128_gesture import DVS128GestureDataset  # noqa: E402
from .event_clips import EventClipDataset  # noqa: E402

__all__ = ['EventClipDataset', 'DVS128GestureDataset']
