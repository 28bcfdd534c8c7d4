# Inherit an MMAction2 model-zoo config and swap in mmspike's spiking backbone and head: the C3D
# UCF101 recipe (data layout, pipelines, schedule) trains the tiny spiking CNN instead.
_base_ = 'mmaction::recognition/c3d/c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py'
custom_imports = dict(imports=['mmspike'], allow_failed_imports=False)

neuron_cfg = dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0))
model = dict(
    backbone=dict(_delete_=True, type='SpikingConvNet', arch='tiny', neuron_cfg=neuron_cfg),
    cls_head=dict(_delete_=True, type='SpikingClsHead', num_classes=101, in_channels=64,
                  neuron_cfg=neuron_cfg, dropout=0.5, average_clips='prob'))
custom_hooks = [dict(type='SpikeResetHook'), dict(type='FiringRateHook')]
