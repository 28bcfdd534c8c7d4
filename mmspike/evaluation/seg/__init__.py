"""Segmentation task adapter for evaluation: :class:`VideoIoUMetric` (MMSeg's IoU metrics of
clip samples plus VSPW's video consistency mVC_n), registered in MMSeg's ``METRICS`` registry.
Importing it imports MMSeg (the core :mod:`mmspike.evaluation` does not)."""
from .video_seg_metric import VideoIoUMetric

__all__ = ['VideoIoUMetric']
