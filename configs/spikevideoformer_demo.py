# A small SpikeVideoFormer on the embedded motion-clips dataset (CPU demo):
#   bash tools/demo.sh configs/spikevideoformer_demo.py
# arch 'tiny' (widths 16/32/64/96, one transformer block per stage), joint space-time Hamming
# attention over all 16 x 2 x 2 tokens of a clip; 16 frames, resized from 64 to 32 x 32 (at
# 64 x 64 an epoch takes about 165 s on 2 cores, too slow for the 15-minute demo budget).
# Two departures from the Kinetics recipe, both needed to learn from scratch (docs/action.md,
# "SpikeVideoFormer demo"): zero_init_residual (every block starts as the identity; with a
# random init the joint attention branch keeps the model at chance) and an order-aware head.  The
# Meta-SpikeFormer head averages over T, so frame order reaches it only through the LIF leak,
# and every class here has its time reversal as another class; SVFormerHead's Conv3d spans all
# (T, H, W) positions of the last stage instead.
_base_ = [
    '_base_/datasets/motion_clips.py', '_base_/schedules/adamw_demo.py',
    '_base_/runtime_mmaction.py'
]
num_frames = 16
img_size = 32
model = dict(
    type='Recognizer3D',
    backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='joint', sim='hamming',
                  num_frames=num_frames, zero_init_residual=True),
    cls_head=dict(type='SVFormerHead', num_classes=8, in_channels=96, num_frames=num_frames,
                  feat_size=img_size // 16, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))
randomness = dict(seed=0, deterministic=False)
test_evaluator = [dict(type='AccMetric'), dict(type='SpikeEnergyMetric')]


def _pipeline(test_mode):
    return [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=num_frames, frame_interval=1, num_clips=1,
             test_mode=test_mode),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        # the sample's file kept in its metainfo, for errors that name a sample
        dict(type='PackActionInputs', meta_keys=('img_shape', 'img_key', 'video_id', 'timestamp',
                                                 'filename', 'frame_dir')),
    ]


train_pipeline = _pipeline(False)
test_pipeline = _pipeline(True)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
