# A small SVFormer on the embedded motion-clips dataset: the CPU demo that `bash tools/demo.sh`
# trains and tests (results: docs/action.md).
#   python tools/train.py configs/svformer_demo.py
# Same blocks as the paper model ('tiny': widths 32/64/96/128, one block per stage), 16 frames of
# 64 x 64, so the backbone ends at 2 x 2 and the head's Conv3d spans (16, 2, 2).
_base_ = [
    '_base_/models/svformer_base.py', '_base_/datasets/motion_clips.py',
    '_base_/schedules/adamw_demo.py', '_base_/runtime_mmaction.py'
]
num_frames = 16
img_size = 64
model = dict(
    backbone=dict(arch='tiny', num_frames=num_frames, img_size=img_size),
    cls_head=dict(num_classes=8, in_channels=256, num_frames=num_frames,
                  feat_size=img_size // 32),
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0]))
randomness = dict(seed=0, deterministic=False)

# Test: accuracy and per-clip energy side by side (mmspike.evaluation.SpikeEnergyMetric).
test_evaluator = [dict(type='AccMetric'), dict(type='SpikeEnergyMetric')]

# 8 epochs (_base_/schedules/adamw_demo.py) keep train + test inside 15 minutes on 2 CPU cores.
