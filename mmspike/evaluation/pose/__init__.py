"""Pose task adapter for evaluation: :class:`VideoPose3DMetric`, registered in MMPose's
``METRICS`` registry.  Importing it imports MMPose (the core :mod:`mmspike.evaluation` does not)."""
from .video_pose_metric import VideoPose3DMetric

__all__ = ['VideoPose3DMetric']
