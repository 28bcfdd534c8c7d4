"""Task adapter for action recognition (MMAction2).

Importing it checks the installed mmcv and MMAction2 versions, applies the upstream repairs they
need (:func:`mmspike.engine.compat.prepare_codebase`, :func:`mmspike.engine.compat.apply`) and
registers, in MMAction2's registries, the action heads (:mod:`mmspike.heads.action`) and the event
datasets (:mod:`mmspike.datasets.action`); :mod:`mmspike.estimators.action` adds
``StreamingRecognizer`` (frame-by-frame inference of causal recognizers).  The task-agnostic core
(backbones, necks, hooks, transforms, energy) comes with ``import mmspike``.  Configs:
``custom_imports=dict(imports=['mmspike.action'])`` (``configs/_base_/runtime_mmaction.py``);
results of the demos in docs/action.md.
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.engine import compat

compat.prepare_codebase('action')
compat.apply()

from mmspike.datasets import action as datasets  # noqa: E402,F401
from mmspike.estimators import action as estimators  # noqa: E402,F401
from mmspike.heads import action as heads  # noqa: E402,F401

__all__ = ['datasets', 'estimators', 'heads']
