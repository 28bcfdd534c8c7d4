"""Task adapter for action recognition (MMAction2).

Importing it imports MMAction2 and registers mmspike's action heads
(:mod:`mmspike.heads.action`, subclasses of MMAction2's ``BaseHead``) in
``mmaction.registry.MODELS``, and provides :class:`~mmspike.estimators.action.
StreamingRecognizer` (frame-by-frame inference with causal recognizers, ``tools/stream.py``),
and registers the event datasets ``EventClipDataset`` and ``DVS128GestureDataset``
(:mod:`mmspike.datasets.action`) in ``mmaction.registry.DATASETS``; the task-agnostic core
(backbones, necks, hooks, energy) comes with ``import mmspike``.  Configs:
``custom_imports=dict(imports=['mmspike.action'])`` (``configs/_base_/runtime_mmaction.py``).
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.datasets import action as datasets  # noqa: F401
from mmspike.estimators import action as estimators  # noqa: F401
from mmspike.heads import action as heads  # noqa: F401

__all__ = ['datasets', 'estimators', 'heads']
