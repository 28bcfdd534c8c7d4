# SpikeVideoFormer for 3D human pose tracking on MMHPSD, the paper's setting T=32 (Zou et al.,
# ICML 2025: PA-MPJPE 47.5 mm, 55.8M parameters, 391.2 mJ; not reproduced).
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
_base_ = ['_base_/datasets/mmhpsd.py', '_base_/models/spikevideoformer_pose_large.py',
          '_base_/schedules/adamw_pose_30e.py', '_base_/runtime_mmpose.py']

default_hooks = dict(checkpoint=dict(save_best='pose/pa_mpjpe', rule='less'))
