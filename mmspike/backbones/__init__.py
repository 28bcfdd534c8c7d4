from .spikevideoformer import SpikeVideoFormer
from .spiking_convnet import SpikingConvNet
from .svformer import SVFormer

__all__ = ['SpikingConvNet', 'SVFormer', 'SpikeVideoFormer']
