# SpikeVideoFormer small on UCF101 split 1 (MMAction2 layout), with SVFormer's UCF101 data
# pipeline and schedule (16 frames x 224, 5 clips x 3 crops at test).  No paper number exists
# for this pairing; it is the like-for-like comparison with configs/svformer_ucf101.py.
_base_ = [
    '_base_/models/spikevideoformer_large.py', '_base_/datasets/ucf101_svformer.py',
    '_base_/schedules/svformer_600e.py', '_base_/runtime_mmaction.py'
]
model = dict(
    backbone=dict(arch='small'),
    cls_head=dict(num_classes=101, in_channels=360),
    data_preprocessor=dict(mean=[114.75, 114.75, 114.75], std=[57.375, 57.375, 57.375]))
