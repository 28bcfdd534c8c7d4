"""Action-recognition heads: subclasses of MMAction2's ``BaseHead``, registered in
``mmaction.registry.MODELS``."""
from .spiking_cls_head import SpikingClsHead
from .svformer_head import SVFormerHead

__all__ = ['SpikingClsHead', 'SVFormerHead']
