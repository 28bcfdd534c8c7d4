# Runtime of MMSegmentation configs: mmseg scope, its visualizer, and mmspike's segmentation
# adapter (VideoEncoderDecoder, SpikeSegformerHead, the VSPW / Cityscapes-sequence clip datasets
# and transforms, VideoIoUMetric, registered in mmseg's registries).
_base_ = ['default_runtime.py']
default_scope = 'mmseg'
custom_imports = dict(imports=['mmspike', 'mmspike.seg'], allow_failed_imports=False)
visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer', alpha=0.6)
