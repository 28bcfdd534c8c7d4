"""Task adapter for video semantic segmentation (MMSegmentation).

Importing it imports MMSeg and registers, in MMSeg's registries, what mmspike adds for video
segmentation: the segmentor ``VideoEncoderDecoder`` (an ``EncoderDecoder`` on clips) and the
decode head ``SpikeSegformerHead`` (:mod:`mmspike.estimators.seg`, :mod:`mmspike.heads.seg`),
the VSPW and Cityscapes-sequence clip datasets and their clip transforms
(:mod:`mmspike.datasets.seg`) and ``VideoIoUMetric`` (mIoU and VSPW's video consistency
mVC_8 / mVC_16, :mod:`mmspike.evaluation.seg`).  The clip data preprocessor, the pure video
consistency function (:mod:`mmspike.evaluation.functional`), the demo data generator
(:mod:`mmspike.datasets.synthetic.seg_clips`) and ``SegClipVisualizationHook`` (``tools/test.py
--show-dir``) are in the core.  Configs load it with
``custom_imports=dict(imports=['mmspike.seg'])`` (``configs/_base_/runtime_mmseg.py``):
``configs/spikevideoformer_seg_vspw.py``, ``configs/spikevideoformer_seg_cityscapes_ilif4.py``
and ``configs/spikevideoformer_seg_demo.py`` (embedded data, measured in README).
"""
import mmspike  # noqa: F401  (the core, in the root registries)
from mmspike.engine.versions import check_versions

check_versions('mmcv', 'mmsegmentation', needed_by='mmspike.seg')

from mmspike.engine import compat  # noqa: E402

compat.apply()

from mmspike.datasets import seg as datasets  # noqa: E402,F401
from mmspike.datasets.transforms import seg_transforms as transforms  # noqa: E402,F401
from mmspike.estimators import seg as estimators  # noqa: E402,F401
from mmspike.evaluation import seg as evaluation  # noqa: E402,F401
from mmspike.heads import seg as heads  # noqa: E402,F401
from mmspike.hooks import seg as hooks  # noqa: E402,F401

__all__ = ['datasets', 'estimators', 'evaluation', 'heads', 'hooks', 'transforms']
