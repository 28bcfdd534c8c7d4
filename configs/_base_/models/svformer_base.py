# SVFormer (Yu et al. 2024): the paper model, 16 frames x 224 x 224, 101 classes.
neuron_cfg = dict(type='PLIF', init_tau=2.0, surrogate=dict(type='atan', alpha=2.0))
num_frames = 16
img_size = 224
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SVFormer', arch='base', num_frames=num_frames, img_size=img_size,
                  neuron_cfg=neuron_cfg),
    cls_head=dict(type='SVFormerHead', num_classes=101, in_channels=1024, num_frames=num_frames,
                  feat_size=img_size // 32, neuron_cfg=neuron_cfg, average_clips='score'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375], format_shape='NCTHW'))
