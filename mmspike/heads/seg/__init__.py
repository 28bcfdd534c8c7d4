"""Segmentation heads: subclasses of MMSeg's ``BaseDecodeHead``, registered in
``mmseg.registry.MODELS``.

* :class:`SpikeSegformerHead`: spike-driven all-MLP decoder over the multi-scale
  ``[T, N, C, H, W]`` maps of a spiking video backbone (strides 4/8/16/16 for SpikeVideoFormer),
  per-frame logits.
"""
from .spike_segformer_head import SpikeSegformerHead

__all__ = ['SpikeSegformerHead']
