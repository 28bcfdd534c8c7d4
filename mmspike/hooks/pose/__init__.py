"""Hooks of the 3D pose task (registered by ``mmspike.pose``)."""
from .mean_pose_init_hook import MeanPoseInitHook
from .pose_video_hook import PoseVideoHook

__all__ = ['MeanPoseInitHook', 'PoseVideoHook']
