"""3D pose from video with spiking backbones (MMPose).  Importing this package registers, in
``mmpose.registry.MODELS``: :class:`VideoPoseLifter`, :class:`ClipDataPreprocessor` and (through
:mod:`mmspike.heads.pose`) :class:`SpikeTemporalRegressionHead`."""
from ...heads.pose import SpikeTemporalRegressionHead
from .video_pose_lifter import ClipDataPreprocessor, VideoPoseLifter

__all__ = ['VideoPoseLifter', 'ClipDataPreprocessor', 'SpikeTemporalRegressionHead']
