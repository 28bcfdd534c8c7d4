# Runtime of MMSegmentation configs: mmseg scope and its visualizer.  The segmentation adapter
# (segmentor, heads, datasets) is not written yet; configs add it to custom_imports when it is.
_base_ = ['default_runtime.py']
default_scope = 'mmseg'
custom_imports = dict(imports=['mmspike'], allow_failed_imports=False)
visualizer = dict(type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
