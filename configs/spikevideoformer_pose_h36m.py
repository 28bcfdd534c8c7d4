# SpikeVideoFormer for 3D human pose from video on Human3.6M, T=32: a recipe, the MMHPSD config
# (spikevideoformer_pose_mmhpsd.py) moved to Human3.6M's 17 joints and protocol.
# Not measured: no figure of this config exists; the schedule below is not tuned.
# Needs Human3.6M prepared with MMPose's converter at data_root ('data/h36m', layout in
# _base_/datasets/h36m.py; the 50 fps annotations) and GPUs: arch 'large' at T=32 x 224 x 224 is
# a multi-GPU job, e.g.
#   torchrun --nproc_per_node=8 tools/train.py configs/spikevideoformer_pose_h36m.py \
#       --launcher pytorch
#   python tools/test.py configs/spikevideoformer_pose_h36m.py <checkpoint>
# Setting: Human3.6M's protocol split (train S1, S5, S6, S7, S8; test S9, S11; all 4 cameras),
# 17 joints, targets relative to the pelvis, errors in mm (MPJPE = protocol 1, PA-MPJPE =
# protocol 2) over every frame of every test clip.
# Clips: T=32 frames with gap 2.  Human3.6M is filmed at 50 fps, so gap 2 is 25 fps and a clip
# spans 63 frames (1.26 s): neighbouring 50 fps frames are near duplicates, and every other frame
# gives the model twice the motion per clip for the same cost (the MMHPSD config's gap too).
# Model as the MMHPSD config: arch 'large' (widths 128/256/512/640), joint space-time Hamming
# attention, SpikeTemporalRegressionHead (per-frame joints, L1 + velocity loss) with 17 joints,
# ImageNet statistics (pass a converted Meta-SpikeFormer checkpoint with
# --cfg-options model.backbone.init_cfg.checkpoint=<converted.pth>).  Every frame of a clip is
# cut to the same square around the clip's person boxes (center / scale of the annotations) and
# resized to 224 x 224 (CropClipToBox).
_base_ = ['_base_/datasets/h36m.py', '_base_/models/spikevideoformer_pose_large.py',
          '_base_/schedules/adamw_pose_30e.py', '_base_/runtime_mmpose.py']

model = dict(head=dict(num_joints=17))
# MPJPE (protocol 1), Human3.6M's headline error
default_hooks = dict(checkpoint=dict(save_best='pose/mpjpe', rule='less'))
