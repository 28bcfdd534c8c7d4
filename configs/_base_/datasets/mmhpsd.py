# MMHPSD (the real dataset's layout) as clips of frames with 3D SMPL joints, for MMPose configs.
#   data_root/mmhpsd_grayscale_img/<subjectXX_groupY_timeZ>/imgs/fullpic<idx:04d>.jpg
#   data_root/mmhpsd_events/<subjectXX_groupY_timeZ>/poses/pose_<idx:04d>.npz  (joints3d [24, 3])
# Split: subjects 1, 2, 7 test, all others train (MMHPSDClipDataset).  Grayscale frames are read
# as 3-channel RGB (LoadClipFrames), resized to img_size x img_size, and packed as a uint8
# [3, T, H, W] clip with root-relative targets (PackClipPoseInputs).  A config that inherits
# this base sets clip_len / img_size and re-states the dataloaders if it changes them (mmengine
# evaluates the variables below once, in this file).
dataset_type = 'MMHPSDClipDataset'
data_root = 'data/mmhpsd'
clip_len = 32
img_size = 224

train_pipeline = [dict(type='LoadClipFrames', size=img_size), dict(type='PackClipPoseInputs')]
test_pipeline = [dict(type='LoadClipFrames', size=img_size), dict(type='PackClipPoseInputs')]

train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # gap 2 as at test time; clip starts clip_len frames apart, so training clips overlap by half.
    dataset=dict(type=dataset_type, data_root=data_root, split='train', clip_len=clip_len,
                 gap=2, stride=clip_len, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    # gap 2: every other frame, the authors' test setting.
    dataset=dict(type=dataset_type, data_root=data_root, split='test', clip_len=clip_len,
                 gap=2, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
# MPJPE / PA-MPJPE / PEL-MPJPE / acceleration error in mm, and the same errors of the mean pose.
val_evaluator = dict(type='VideoPose3DMetric')
test_evaluator = [dict(type='VideoPose3DMetric'), dict(type='SpikeEnergyMetric')]
