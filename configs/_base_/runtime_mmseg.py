# Runtime of MMSegmentation configs: mmseg scope, its visualizer, and mmspike's segmentation
# adapter (VideoEncoderDecoder, SpikeSegformerHead, the VSPW / Cityscapes-sequence clip datasets
# and transforms, VideoIoUMetric, registered in mmseg's registries).
_base_ = ['default_runtime.py']
default_scope = 'mmseg'
custom_imports = dict(imports=['mmspike', 'mmspike.seg'], allow_failed_imports=False)
visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer', alpha=0.6)
# tools/test.py --show-dir DIR, mmspike's or MMSeg's stock one: ground truth | prediction over
# the frames of the first test clips (mmspike.hooks.seg.SegClipVisualizationHook, through the
# visualizer above).  Off until --show-dir switches it on (mmspike's sets `enable` and `out_dir`,
# MMSeg's `draw` and visualizer.save_dir), so training and testing without it write nothing.
default_hooks = dict(visualization=dict(type='SegClipVisualizationHook', enable=False,
                                        draw=False))
