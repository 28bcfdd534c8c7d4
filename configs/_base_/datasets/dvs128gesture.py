# DVS128 Gesture (Amir et al., CVPR 2017), the official release unpacked as data/DvsGesture/:
#   data/DvsGesture/user01_fluorescent.aedat, user01_fluorescent_labels.csv, ...
#   data/DvsGesture/trials_to_train.txt, trials_to_test.txt
# mmspike.datasets.action.DVS128GestureDataset cuts every recording by its label csv (as
# spikingjelly does: 1176 train / 288 test samples, 11 classes) into event files cached in
# data/DvsGesture/mmspike_cache/ on first use (slow: spikingjelly decodes AEDAT in Python).
# Pipeline as spikingjelly's DVS128 Gesture example: the whole sample integrated into T = 16
# frames of equal event count (split_by='number'), 2 polarity channels of event counts at
# 128 x 128, no augmentation.  The recognizer gets (N, 2, 16, 128, 128).
# No horizontal flip: left- and right-hand gestures are separate classes.
dataset_type = 'DVS128GestureDataset'
# MMAction2's default metainfo keys plus the sample's file, which errors naming a sample
# (NonFiniteLossHook) read
pack_meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'filename', 'frame_dir')
data_root = 'data/DvsGesture'
event_frames = 16  # T; the backbone's num_frames must agree

train_pipeline = [
    dict(type='LoadEvents'),
    dict(type='IntegrateEvents', num_frames=event_frames, split_by='number'),
    dict(type='FormatEventShape'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
# DVS128 Gesture has no validation split: like spikingjelly's example, validate on the test
# split (its 96.2% is the best test accuracy over the epochs; report the last epoch's too).
val_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
