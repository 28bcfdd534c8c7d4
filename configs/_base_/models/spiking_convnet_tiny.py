neuron_cfg = dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0))
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SpikingConvNet', arch='tiny', neuron_cfg=neuron_cfg),
    cls_head=dict(
        type='SpikingClsHead', num_classes=8, in_channels=64, neuron_cfg=neuron_cfg,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0],
        format_shape='NCTHW'))
