"""mmspike: directly trained spiking video transformers for OpenMMLab.

``import mmspike`` (or ``custom_imports=dict(imports=['mmspike'])`` in a config) registers every
mmspike model, head and hook in mmengine's root registries and applies the runtime repairs of
:mod:`mmspike.compat`.  It imports neither mmpose nor mmseg.
"""
from .version import __version__
from . import compat

compat.apply_runtime_repairs()

from . import backbones, datasets, energy, evaluation, heads, hooks, models  # noqa: E402,F401

__all__ = ['__version__']
