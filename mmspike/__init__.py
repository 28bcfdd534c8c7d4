"""mmspike: directly trained spiking video transformers for OpenMMLab.

``import mmspike`` registers the task-agnostic core in mmengine's root registries: neurons and
layers (:mod:`mmspike.models`), backbones, necks, hooks, energy, ops and the energy metric, and
applies the runtime repairs of :mod:`mmspike.compat`.  It imports no task codebase (MMAction2,
MMPose, MMSegmentation, MMDetection).

Task adapters import their codebase and register the parts that subclass its bases:

* ``mmspike.action`` (MMAction2): action heads (:mod:`mmspike.heads.action`).

A config loads them with ``custom_imports=dict(imports=['mmspike.action'])``; mmspike's runtime
bases (``configs/_base_/runtime_mmaction.py``, ...) do this.
"""
from .version import __version__
from . import compat

compat.apply_runtime_repairs()

from . import (amp, backbones, datasets, dist, energy, evaluation, hooks,  # noqa: E402,F401
               models, necks, ops)

__all__ = ['__version__']
