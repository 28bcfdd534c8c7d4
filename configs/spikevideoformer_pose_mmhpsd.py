# SpikeVideoFormer for 3D human pose tracking on MMHPSD, the paper's setting T=32 (Zou et al.,
# ICML 2025: PA-MPJPE 47.5 mm, 55.8M parameters, 391.2 mJ; not reproduced here).
# Needs the real MMHPSD at data_root ('data/mmhpsd', layout in _base_/datasets/mmhpsd.py) and
# GPUs: arch 'large' at T=32 x 224 x 224 is a multi-GPU job, e.g.
#   torchrun --nproc_per_node=8 tools/train.py configs/spikevideoformer_pose_mmhpsd.py \
#       --launcher pytorch
#   python tools/test.py configs/spikevideoformer_pose_mmhpsd.py <checkpoint>
# What follows the paper: arch 'large' (widths 128/256/512/640, ~55M parameters, the size of the
# paper's pose model), joint space-time Hamming attention, T=32 clips, MMHPSD's split (test
# subjects 1, 2, 7), clips of every other frame.  The paper's pose model starts from ImageNet
# weights (its ablation: random init 53.8 vs 39.8 mm PA-MPJPE); pass a converted Meta-SpikeFormer
# checkpoint with --cfg-options model.backbone.init_cfg.checkpoint=<converted.pth>.
# A recipe, not the paper's: the head (SpikeTemporalRegressionHead: per-frame joints, L1 +
# velocity loss; the paper regresses SMPL parameters), the 224 x 224 input, the batch and the
# AdamW + cosine schedule.
_base_ = ['_base_/datasets/mmhpsd.py', '_base_/runtime_mmpose.py']

clip_len = 32
img_size = 224
model = dict(
    type='VideoPoseLifter',
    backbone=dict(type='SpikeVideoFormer', arch='large', attention='joint', sim='hamming',
                  num_frames=clip_len, out_indices=(3, )),
    head=dict(type='SpikeTemporalRegressionHead', in_channels=640, num_joints=24,
              loss=dict(type='L1'), velocity_weight=1.0),
    # Grayscale frames read as RGB; ImageNet's statistics, as the pre-trained backbone expects.
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375]))

max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=1e-6, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
# batch 8 per GPU x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=64)
default_hooks = dict(checkpoint=dict(save_best='pose/pa_mpjpe', rule='less'))
