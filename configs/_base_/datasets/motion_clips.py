# The embedded dataset (mmspike.datasets.synthetic.motion_clips): 8 motion classes whose
# identity depends on temporal order.  tools/train.py and tools/test.py generate it on first use
# from `embedded_dataset` (deterministic by seed).  No horizontal flip: it would swap classes
# (left <-> right).
dataset_type = 'VideoDataset'
# MMAction2's default metainfo keys plus the sample's file, which errors naming a sample
# (NonFiniteLossHook) read
pack_meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'filename', 'frame_dir')
data_root = 'data/motion_clips'
# 150 training clips per class: with 40 a small SVFormer memorises backgrounds, not motion.
embedded_dataset = dict(root=data_root, seed=0, train_per_class=150, val_per_class=10,
                        test_per_class=20, num_frames=16, size=64)
clip_len = 16

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]


def _split(name, pipeline, test_mode):
    return dict(type=dataset_type, ann_file=f'{data_root}/motion_clips_{name}_list_videos.txt',
                data_prefix=dict(video=f'{data_root}/videos'), pipeline=pipeline,
                test_mode=test_mode)


train_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=_split('train', train_pipeline, False))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('val', test_pipeline, True))
test_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('test', test_pipeline, True))
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
