# Inherit an MMAction2 model-zoo config and swap in mmspike's spiking backbone and head: the C3D
# UCF101 recipe (data layout, pipelines, schedule) trains the tiny spiking CNN instead.
_base_ = 'mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py'
custom_imports = dict(imports=['mmspike', 'mmspike.action'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='SpikingConvNet', arch='tiny'),
    cls_head=dict(_delete_=True, type='SpikingClsHead', num_classes=101, in_channels=64,
                  dropout=0.5, average_clips='prob'))
custom_hooks = [dict(type='SpikeResetHook'), dict(type='FiringRateHook')]
