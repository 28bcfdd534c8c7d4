"""3D pose from video with spiking backbones (MMPose).  Importing this package registers, in
``mmpose.registry.MODELS``: :class:`VideoPoseLifter` and (through
:mod:`mmspike.heads.pose`) :class:`SpikeTemporalRegressionHead`.  :class:`ClipDataPreprocessor`
lives in the core (:mod:`mmspike.data_preprocessors`, root registry) and is re-exported here."""
from ...heads.pose import SpikeTemporalRegressionHead
from .video_pose_lifter import ClipDataPreprocessor, VideoPoseLifter

__all__ = ['VideoPoseLifter', 'ClipDataPreprocessor', 'SpikeTemporalRegressionHead']
