"""Hooks of the video segmentation task (registered by ``mmspike.seg``)."""
from .seg_clip_visualization_hook import SegClipVisualizationHook

__all__ = ['SegClipVisualizationHook']
