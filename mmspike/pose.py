"""Task adapter for 3D human pose from video (MMPose).

Importing it checks the installed mmcv and MMPose versions, applies the upstream repairs they
need and registers, in MMPose's registries, the video pose estimator ``VideoPoseLifter``
(:mod:`mmspike.estimators.pose`), the head ``SpikeTemporalRegressionHead``
(:mod:`mmspike.heads.pose`), the MMHPSD and Human3.6M clip datasets (:mod:`mmspike.datasets.pose`)
and their clip transforms (:mod:`mmspike.datasets.transforms.pose_transforms`), the video 3D pose
metric (:mod:`mmspike.evaluation.pose`) and the pose hooks (:mod:`mmspike.hooks.pose`: skeleton
videos for ``tools/test.py --show-dir``, mean-pose initialisation).  Configs:
``custom_imports=dict(imports=['mmspike.pose'])`` (``configs/_base_/runtime_mmpose.py``);
results of the demo in docs/pose.md.
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.engine import compat

compat.prepare_codebase('pose')
compat.apply()

from mmspike.datasets import pose as datasets  # noqa: E402,F401
from mmspike.datasets.transforms import pose_transforms as transforms  # noqa: E402,F401
from mmspike.estimators import pose as estimators  # noqa: E402,F401
from mmspike.evaluation import pose as evaluation  # noqa: E402,F401
from mmspike.heads import pose as heads  # noqa: E402,F401
from mmspike.hooks import pose as hooks  # noqa: E402,F401

__all__ = ['datasets', 'estimators', 'evaluation', 'heads', 'hooks', 'transforms']
