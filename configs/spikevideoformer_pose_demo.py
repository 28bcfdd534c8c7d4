# A small SpikeVideoFormer for 3D pose from video on the embedded pose clips (the CPU demo):
#   bash tools/demo.sh configs/spikevideoformer_pose_demo.py
# or step by step:
#   python tools/train.py configs/spikevideoformer_pose_demo.py
#   python tools/test.py configs/spikevideoformer_pose_demo.py <work_dir>/epoch_7.pth --show-dir vis
# Data: mmspike.datasets.synthetic.pose_clips written in the MMHPSD layout under data_root on
# first use (from `embedded_dataset`, by EmbeddedDatasetHook when the Runner is built: mmspike's
# and the stock tools/train.py and tools/test.py; deterministic by seed): subjects 1-12
# (MMHPSD's test subjects 1, 2, 7 are the test split), 32 sequences of 64 frames each, 64 x 64
# frames (24,576 frames; many sequences seen few times generalise better than few seen often).
# Clips of 8 frames, every other frame (gap 2).  Every frame of a clip is cut to the same square
# around the clip's 2D joints (1.2 times the box, CropClipToBox: the top-down crop of image pose
# models, from the ground-truth 2D joints at test time too, as Human3.6M protocols with ground-
# truth boxes) and resized to 64 x 64.
# Model: arch 'tiny' with wider transformer stages (widths 16/32/128/192: the 4 x 4 stages cost
# little), joint space-time Hamming attention, integer LIF neurons with D = 4 (I-LIF, the paper's
# integer spikes; binary LIF learns more slowly on these clips), zero_init_residual (every block
# starts as the identity), and a head that flattens the final 4 x 4 map (feat_size=4).
# Training: MeanPoseInitHook starts the head at the training mean pose; the head's learning rate
# is 0.05x the backbone's (AdamW moves each of its 3072 x 72 weights by about lr per step; at the
# full rate the output jumps by tens of cm per step).  16 clips per batch, 7 epochs (1638 steps),
# AdamW lr 1e-3, cosine, validation only at the end.  velocity_weight=0.1: at 1.0 the velocity
# loss stays flat from the second epoch on and holds the joint loss back; 0.1 trades lower
# joint errors for more jitter (a higher acceleration error).
# Results and the runs behind these choices: docs/pose.md.
_base_ = ['_base_/datasets/mmhpsd.py', '_base_/runtime_mmpose.py']

data_root = 'data/pose_clips'
embedded_dataset = dict(root=data_root, generator='pose_clips', subjects=tuple(range(1, 13)),
                        sequences_per_subject=32, frames_per_sequence=64, img_size=64, seed=0)
clip_len = 8
img_size = 64

model = dict(
    type='VideoPoseLifter',
    backbone=dict(type='SpikeVideoFormer', attention='joint', sim='hamming',
                  arch=dict(embed_dims=(16, 32, 128, 192), depths=(1, 2, 1, 1),
                            num_heads=(0, 0, 4, 4), mlp_ratio=4),
                  num_frames=clip_len, neuron_cfg=dict(type='ILIF', levels=4),
                  out_indices=(3, ), zero_init_residual=True),
    head=dict(type='SpikeTemporalRegressionHead', in_channels=192, num_joints=24,
              feat_size=img_size // 16, loss=dict(type='L1'), velocity_weight=0.1),
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0]))
randomness = dict(seed=0, deterministic=False)

train_pipeline = [dict(type='LoadClipFrames'),
                  dict(type='CropClipToBox', size=img_size, padding=1.2),
                  dict(type='PackClipPoseInputs')]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    # clip starts 4 frames apart: overlapping training clips
    dataset=dict(data_root=data_root, clip_len=clip_len, gap=2, stride=4,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, clip_len=clip_len, gap=2, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 7
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.05),
                     paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=0.05)}),
                     clip_grad=dict(max_norm=20, norm_type=2))
warmup_iters = 125
iters_per_epoch = 234  # 9 training subjects x 32 sequences x 13 clips / 16 clips per batch
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=warmup_iters,
         end=iters_per_epoch * max_epochs),
]
custom_hooks = [dict(type='SpikeResetHook'), dict(type='FiringRateHook'),
                dict(type='MeanPoseInitHook')]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1,
                                     save_best='pose/pa_mpjpe', rule='less'))
