# A small SpikeVideoFormer for 3D pose on the embedded generated pose-clip dataset (CPU demo):
#   python tools/train.py configs/spikevideoformer_pose_demo.py
#   python tools/test.py configs/spikevideoformer_pose_demo.py <work_dir>/epoch_6.pth
# The dataset (mmspike.datasets.pose_clips) is written in the MMHPSD layout under data_root on
# first use from `embedded_dataset` (tools/train.py and tools/test.py call
# mmspike.datasets.prepare_embedded_dataset; deterministic by seed): subjects 1-8 (test 1, 2, 7),
# 4 sequences of 64 frames each, 64 x 64 frames, resized to 32 x 32 here.
# NOT MEASURED YET: no figure of this config has been run.  The demo run, its time on CPU and its
# PA-MPJPE against the mean-pose baseline (pose/baseline_pa_mpjpe, printed next to it by
# tools/test.py) are future work; the epochs and learning rate below are a first guess.
# arch 'tiny' (widths 16/32/64/96), joint space-time Hamming attention, 8 frames (gap 2) of
# 32 x 32; zero_init_residual starts every block as the identity, which the SpikeVideoFormer
# action demo needed to learn from scratch (docs/history.md).
_base_ = ['_base_/datasets/mmhpsd.py', '_base_/runtime_mmpose.py']

data_root = 'data/pose_clips'
embedded_dataset = dict(root=data_root, generator='pose_clips', subjects=(1, 2, 3, 4, 5, 6, 7, 8),
                        sequences_per_subject=4, frames_per_sequence=64, img_size=64, seed=0)
clip_len = 8
img_size = 32

model = dict(
    type='VideoPoseLifter',
    backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='joint', sim='hamming',
                  num_frames=clip_len, out_indices=(3, ), zero_init_residual=True),
    head=dict(type='SpikeTemporalRegressionHead', in_channels=96, num_joints=24,
              loss=dict(type='L1'), velocity_weight=1.0),
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0]))
randomness = dict(seed=0, deterministic=False)

train_pipeline = [dict(type='LoadClipFrames', size=img_size), dict(type='PackClipPoseInputs')]
test_pipeline = [dict(type='LoadClipFrames', size=img_size), dict(type='PackClipPoseInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    # clip starts 4 frames apart: overlapping training clips
    dataset=dict(data_root=data_root, clip_len=clip_len, gap=2, stride=4,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, clip_len=clip_len, gap=2, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.05),
                     clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True, begin=1,
         end=max_epochs),
]
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(save_best='pose/pa_mpjpe', rule='less'))
