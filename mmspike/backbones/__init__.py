"""Spiking video backbones (task-agnostic): ``(N, C, T, H, W)`` -> tuple of ``[T, N, C, H, W]``."""
from .base import BaseSpikingBackbone, checkpoint_stateful
from .spikevideoformer import SpikeVideoFormer
from .spiking_convnet import SpikingConvNet
from .svformer import SVFormer

__all__ = ['BaseSpikingBackbone', 'checkpoint_stateful', 'SpikingConvNet', 'SVFormer',
           'SpikeVideoFormer']
