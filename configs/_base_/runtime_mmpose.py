# Runtime of MMPose configs: mmpose scope and its visualizer.  The pose adapter (estimator,
# heads, datasets, metrics) is not written yet; configs add it to custom_imports when it is.
_base_ = ['default_runtime.py']
default_scope = 'mmpose'
custom_imports = dict(imports=['mmspike'], allow_failed_imports=False)
visualizer = dict(type='PoseLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
