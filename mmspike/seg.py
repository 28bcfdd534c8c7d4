"""Task adapter for video semantic segmentation (MMSegmentation).

Importing it checks the installed mmcv and MMSeg versions, applies the upstream repairs they need
and registers, in MMSeg's registries, the segmentor ``VideoEncoderDecoder``
(:mod:`mmspike.estimators.seg`), the decode head ``SpikeSegformerHead`` (:mod:`mmspike.heads.seg`),
the VSPW and Cityscapes-sequence clip datasets (:mod:`mmspike.datasets.seg`) and their clip
transforms (:mod:`mmspike.datasets.transforms.seg_transforms`), ``VideoIoUMetric`` (mIoU and
VSPW's video consistency, :mod:`mmspike.evaluation.seg`) and ``SegClipVisualizationHook``
(:mod:`mmspike.hooks.seg`, ``tools/test.py --show-dir``).  Configs:
``custom_imports=dict(imports=['mmspike.seg'])`` (``configs/_base_/runtime_mmseg.py``); results
of the demo in docs/segmentation.md.
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.engine import compat

compat.prepare_codebase('seg')
compat.apply()

from mmspike.datasets import seg as datasets  # noqa: E402,F401
from mmspike.datasets.transforms import seg_transforms as transforms  # noqa: E402,F401
from mmspike.estimators import seg as estimators  # noqa: E402,F401
from mmspike.evaluation import seg as evaluation  # noqa: E402,F401
from mmspike.heads import seg as heads  # noqa: E402,F401
from mmspike.hooks import seg as hooks  # noqa: E402,F401

__all__ = ['datasets', 'estimators', 'evaluation', 'heads', 'hooks', 'transforms']
