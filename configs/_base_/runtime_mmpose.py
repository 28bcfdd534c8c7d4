# Runtime of MMPose configs: mmpose scope, its visualizer, and mmspike's pose adapter (MMHPSD
# clip dataset and transforms, the video 3D pose metric, registered in mmpose's registries).
_base_ = ['default_runtime.py']
default_scope = 'mmpose'
custom_imports = dict(imports=['mmspike', 'mmspike.pose'], allow_failed_imports=False)
visualizer = dict(type='PoseLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
# tools/test.py --show-dir DIR, mmspike's or MMPose's stock one: MP4s of the predicted and
# ground-truth 3D skeletons of the first test clips (mmspike.hooks.pose.PoseVideoHook).  Off
# until --show-dir switches it on (`enable`), so training and testing without it write nothing.
default_hooks = dict(visualization=dict(type='PoseVideoHook', enable=False))
