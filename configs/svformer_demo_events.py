# SVFormer tiny on the embedded motion clips seen by an event camera (docs/action.md, "Event demo").
#   bash tools/demo.sh configs/svformer_demo_events.py
# The model of configs/svformer_demo.py with a 2-channel stem (OFF / ON event counts): 16 event
# frames of 64 x 64, so the backbone ends at 2 x 2 and the head's Conv3d spans (16, 2, 2).
_base_ = [
    '_base_/models/svformer_base.py', '_base_/datasets/motion_events.py',
    '_base_/schedules/adamw_demo.py', '_base_/runtime_mmaction.py'
]
num_frames = 16
img_size = 64
model = dict(
    backbone=dict(arch='tiny', in_channels=2, num_frames=num_frames, img_size=img_size),
    cls_head=dict(num_classes=8, in_channels=256, num_frames=num_frames,
                  feat_size=img_size // 32),
    # binary event frames go in as they are
    data_preprocessor=dict(mean=None, std=None))
randomness = dict(seed=0, deterministic=False)

# Test: accuracy and per-clip energy side by side (mmspike.evaluation.SpikeEnergyMetric).
test_evaluator = [dict(type='AccMetric'), dict(type='SpikeEnergyMetric')]
