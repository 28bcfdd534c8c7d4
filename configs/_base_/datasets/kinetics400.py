# Kinetics-400 in MMAction2's standard layout (tools/data/kinetics in MMAction2):
#   data/kinetics400/videos_{train,val}/<video>.mp4
#   data/kinetics400/kinetics400_{train,val}_list_videos.txt   ("<video>.mp4 <label>" lines)
# 16 frames at interval 4, RandomResizedCrop 224 + flip; test 5 clips x 3 crops at 224.
dataset_type = 'VideoDataset'
# MMAction2's default metainfo keys plus the sample's file, which errors naming a sample
# (NonFiniteLossHook) read
pack_meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'filename', 'frame_dir')
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
clip_len = 16
frame_interval = 4

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=5,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]


def _loader(batch_size, ann_file, root, pipeline, train):
    return dict(batch_size=batch_size, num_workers=8, persistent_workers=True,
                sampler=dict(type='DefaultSampler', shuffle=train),
                dataset=dict(type=dataset_type, ann_file=ann_file,
                             data_prefix=dict(video=root), pipeline=pipeline,
                             test_mode=not train))


train_dataloader = _loader(8, ann_file_train, data_root, train_pipeline, True)
val_dataloader = _loader(8, ann_file_val, data_root_val, val_pipeline, False)
test_dataloader = _loader(1, ann_file_val, data_root_val, test_pipeline, False)
val_evaluator = dict(type='AccMetric')
test_evaluator = [dict(type='AccMetric'), dict(type='SpikeEnergyMetric')]
