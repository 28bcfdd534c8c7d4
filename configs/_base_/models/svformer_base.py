# SVFormer (Yu et al. 2024): the paper model, 16 frames x 224 x 224, 101 classes.  Neurons: PLIF
# with init tau 2 and the ATan surrogate (alpha 2), mmspike's PLIF_ATAN default of the backbone
# and the head.
num_frames = 16
img_size = 224
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SVFormer', arch='base', num_frames=num_frames, img_size=img_size),
    cls_head=dict(type='SVFormerHead', num_classes=101, in_channels=1024, num_frames=num_frames,
                  feat_size=img_size // 32, average_clips='score'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[114.75, 114.75, 114.75],
        std=[57.375, 57.375, 57.375], format_shape='NCTHW'))
