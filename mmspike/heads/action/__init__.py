"""Action-recognition heads: subclasses of MMAction2's ``BaseHead``, registered in
``mmaction.registry.MODELS``."""
from ...engine.compat import prepare_codebase

prepare_codebase('action')  # before MMAction2 is imported

from .spiking_cls_head import SpikingClsHead  # noqa: E402
from .svformer_head import SVFormerHead  # noqa: E402

__all__ = ['SpikingClsHead', 'SVFormerHead']
