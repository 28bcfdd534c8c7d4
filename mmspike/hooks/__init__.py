from .firing_rate_hook import FiringRateHook
from .mean_pose_init_hook import MeanPoseInitHook
from .pose_video_hook import PoseVideoHook
from .spike_reset_hook import SpikeResetHook

__all__ = ['SpikeResetHook', 'FiringRateHook', 'PoseVideoHook', 'MeanPoseInitHook']
