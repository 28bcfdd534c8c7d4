# SpikeVideoFormer 'large' for 3D pose from T=32 clips (the MMHPSD and Human3.6M recipes):
# widths 128/256/512/640 (~55M parameters, the size of the paper's pose model), joint space-time
# Hamming attention, SpikeTemporalRegressionHead (per-frame root-relative joints, L1 + velocity
# loss), ImageNet statistics (pass a converted Meta-SpikeFormer checkpoint with
# --cfg-options model.backbone.init_cfg.checkpoint=<converted.pth>).  For T=32 clips (the
# dataset bases' clip_len) and SMPL's 24 joints; a config changes num_joints for other skeletons.
model = dict(
    type='VideoPoseLifter',
    # Layer checkpointing with 1-bit spike inputs (lossless): the least training memory of
    # mmspike's policies (tools/benchmark_memory.py, docs/models.md).
    backbone=dict(type='SpikeVideoFormer', arch='large', attention='joint', sim='hamming',
                  num_frames=32, out_indices=(3, ), memory=dict(checkpoint='layer')),
    head=dict(type='SpikeTemporalRegressionHead', in_channels=640, num_joints=24,
              loss=dict(type='L1'), velocity_weight=1.0),
    # Grayscale frames are read as RGB; ImageNet's statistics, as the pre-trained backbone expects.
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375]))
