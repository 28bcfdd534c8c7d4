from .spiking_cls_head import SpikingClsHead
from .svformer_head import SVFormerHead

__all__ = ['SpikingClsHead', 'SVFormerHead']
