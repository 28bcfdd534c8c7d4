# SpikeVideoFormer 'small' for video semantic segmentation (the VSPW and Cityscapes recipes):
# widths 64/128/256/360 with all four stages as outputs (strides 4/8/16/16), joint space-time
# Hamming attention, SpikeSegformerHead (spike-driven all-MLP decoder, 256 channels), ImageNet
# statistics (pass a converted Meta-SpikeFormer checkpoint with
# --cfg-options model.backbone.init_cfg.checkpoint=<converted.pth>).  A config sets num_frames,
# num_classes and, for integer spikes, both neuron_cfg's.
norm_mean = [123.675, 116.28, 103.53]
norm_std = [58.395, 57.12, 57.375]
model = dict(
    type='VideoEncoderDecoder',
    backbone=dict(type='SpikeVideoFormer', arch='small', attention='joint', sim='hamming',
                  num_frames=8, out_indices=(0, 1, 2, 3)),
    decode_head=dict(type='SpikeSegformerHead', in_channels=(64, 128, 256, 360), channels=256,
                     num_classes=124, in_index=(0, 1, 2, 3), dropout_ratio=0.1,
                     align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0, avg_non_ignore=True)),
    # frames padded to a multiple of 32 (the backbone needs 16) with 255 in the targets
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=norm_mean, std=norm_std,
                           pad_size_divisor=32),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
