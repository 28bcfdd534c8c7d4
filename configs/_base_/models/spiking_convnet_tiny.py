# The tiny spiking CNN baseline (neurons: mmspike's default PLIF, PLIF_ATAN).
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SpikingConvNet', arch='tiny'),
    cls_head=dict(type='SpikingClsHead', num_classes=8, in_channels=64, average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0],
        format_shape='NCTHW'))
