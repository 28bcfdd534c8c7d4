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
from mmspike.engine.versions import check_versions

check_versions('mmcv', 'mmaction2', needed_by='mmspike.action')

from mmspike.engine import compat  # noqa: E402

compat.apply()
DRN_PLACEHOLDER = compat.provide_mmaction_drn_placeholder()

from mmspike.datasets import action as datasets  # noqa: E402,F401
from mmspike.estimators import action as estimators  # noqa: E402,F401
from mmspike.heads import action as heads  # noqa: E402,F401

if DRN_PLACEHOLDER:
    from mmaction.registry import MODELS  # noqa: E402

    if 'DRN' not in MODELS.module_dict:
        MODELS.register_module('DRN', module=compat.DRNPlaceholder)

__all__ = ['datasets', 'estimators', 'heads']
