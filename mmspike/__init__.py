"""mmspike: directly trained spiking video transformers for OpenMMLab.

``import mmspike`` registers the task-agnostic core in mmengine's root registries and changes
nothing else: it imports no task codebase (MMAction2, MMPose, MMSegmentation, MMDetection) and
replaces no function or attribute of torch, mmengine or the codebases.  The repairs of upstream
bugs (:mod:`mmspike.engine.compat`) are applied, each gated on the versions that need it, by the
task adapters and the tools, or explicitly with ``mmspike.engine.compat.apply()``.

Map of the package (``docs/layout.md`` has the full tables, which ``tests/test_layout.py``
checks against the registries):

* core (no task codebase imported):
  ``neurons/`` multi-step neurons and surrogates; ``layers/`` spiking layers;
  ``backbones/`` spiking video backbones; ``necks/``; ``data_preprocessors/`` clip batching;
  ``ops/`` attention functions and the compiled neuron / BatchNorm kernels; ``energy/`` the
  energy counter; ``evaluation/`` the energy metric and pure metric functions; ``hooks/``
  task-agnostic hooks; ``datasets/transforms/`` pipeline transforms; ``datasets/events.py``
  event files; ``datasets/synthetic/`` the embedded demo data generators; ``engine/``
  checkpoints, distributed, mixed precision, run checks, upstream repairs; ``apis/`` model
  building and inference for every task; ``visualization/`` drawing helpers.
* task adapters (import their codebase, register what subclasses its bases):
  ``mmspike.action`` (MMAction2), ``mmspike.pose`` (MMPose), ``mmspike.seg`` (MMSeg), which load
  ``heads/<task>/``, ``estimators/<task>/``, ``datasets/<task>/``, ``evaluation/<task>/``,
  ``hooks/<task>/`` and the task's transforms.

A config loads an adapter with ``custom_imports=dict(imports=['mmspike.action'])``; mmspike's
runtime bases (``configs/_base_/runtime_mmaction.py``, ...) do this.
"""
from .version import __version__
from .engine.versions import check_core_versions

check_core_versions()

from . import (backbones, data_preprocessors, datasets, energy, evaluation,  # noqa: E402,F401
               hooks, layers, necks, neurons, ops)
from .engine import amp  # noqa: E402,F401  (registers AutocastOptimWrapper)

__all__ = ['__version__']
