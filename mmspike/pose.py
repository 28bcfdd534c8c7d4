"""Task adapter for 3D human pose from video (MMPose).

Importing it imports MMPose and registers, in MMPose's registries, what mmspike adds for video
pose: the video pose estimator ``VideoPoseLifter`` (a ``PoseLifter``, with frame-by-frame
online inference for causal configurations), its clip data preprocessor and the head
``SpikeTemporalRegressionHead`` (:mod:`mmspike.estimators.pose`, :mod:`mmspike.heads.pose`),
the MMHPSD and Human3.6M clip datasets and their clip transforms (:mod:`mmspike.datasets.pose`)
and the video 3D pose metric (:mod:`mmspike.evaluation.pose`).  The pure pose errors are in the
core (:mod:`mmspike.evaluation.functional`), and so is the skeleton video writer used by
``tools/test.py --show-dir`` (:mod:`mmspike.visualization`, :class:`mmspike.hooks.pose.PoseVideoHook`).
Configs load it with ``custom_imports=dict(imports=['mmspike.pose'])``
(``configs/_base_/runtime_mmpose.py``): ``configs/spikevideoformer_pose_mmhpsd.py`` (T = 32),
``configs/spikevideoformer_pose_h36m.py`` and ``configs/spikevideoformer_pose_demo.py``
(embedded data, measured in README).
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.engine.versions import check_versions

check_versions('mmcv', 'mmpose', needed_by='mmspike.pose')

from mmspike.engine import compat  # noqa: E402

compat.apply()

from mmspike.datasets import pose as datasets  # noqa: E402,F401
from mmspike.datasets.transforms import pose_transforms as transforms  # noqa: E402,F401
from mmspike.estimators import pose as estimators  # noqa: E402,F401
from mmspike.evaluation import pose as evaluation  # noqa: E402,F401
from mmspike.heads import pose as heads  # noqa: E402,F401
from mmspike.hooks import pose as hooks  # noqa: E402,F401

__all__ = ['datasets', 'estimators', 'evaluation', 'heads', 'hooks', 'transforms']
