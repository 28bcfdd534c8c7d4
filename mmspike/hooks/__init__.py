from .checkpoint_hooks import CheckpointShapeCheckHook, RNGStateHook
from .firing_rate_hook import FiringRateHook
from .mean_pose_init_hook import MeanPoseInitHook
from .pose_video_hook import PoseVideoHook
from .seg_clip_visualization_hook import SegClipVisualizationHook
from .spike_reset_hook import SpikeResetHook

__all__ = ['SpikeResetHook', 'FiringRateHook', 'PoseVideoHook', 'MeanPoseInitHook',
           'SegClipVisualizationHook', 'RNGStateHook', 'CheckpointShapeCheckHook']
