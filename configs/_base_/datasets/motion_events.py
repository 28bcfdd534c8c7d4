# The embedded motion clips as events (mmspike.datasets.synthetic.motion_events): the clips of
# configs/_base_/datasets/motion_clips.py (same seed, so the same objects and motions), rendered
# at 16 frames of 64 x 64 and turned into events by a log-intensity change model
# (mmspike.datasets.synthetic.event_sim: contrast threshold 0.1, no refractory period, no noise).
# Objects of about the background's luminance give few events (a monochrome sensor barely sees
# them): at threshold 0.1 about 1% of the clips have fewer than 100; empty streams are kept
# and read as zero frames (LoadEvents(allow_empty=True)).
# tools/train.py and tools/test.py generate it on first use from `embedded_dataset`.
# Pipeline: the whole clip integrated into 16 frames of equal event count, 2 polarity channels
# (OFF, ON), capped at one event (binary spike frames: ClipEventCounts; with raw counts, whose
# scale varies a hundredfold between clips, validation accuracy lagged far behind training
# accuracy); no augmentation (a flip would swap classes, as for the videos).
# The fading objects are lit (brighter than the background), the one departure from the motion
# clips: an event camera cannot tell a bright object fading in from a dark one fading out
# (mmspike.datasets.synthetic.motion_events explains it).
dataset_type = 'EventClipDataset'
# MMAction2's default metainfo keys plus the sample's file, which errors naming a sample
# (NonFiniteLossHook) read
pack_meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'filename', 'frame_dir')
data_root = 'data/motion_events'
event_frames = 16  # T; the backbone's num_frames must agree
embedded_dataset = dict(root=data_root, generator='motion_events', seed=0, train_per_class=150,
                        val_per_class=10, test_per_class=20, num_frames=16, size=64, fps=8,
                        threshold=0.1, refractory_us=0.0, threshold_sigma=0.0, noise_rate=0.0)

train_pipeline = [
    dict(type='LoadEvents', allow_empty=True),
    dict(type='IntegrateEvents', num_frames=event_frames, split_by='number'),
    dict(type='ClipEventCounts', max_count=1.0),
    dict(type='FormatEventShape'),
    dict(type='PackActionInputs', meta_keys=pack_meta_keys),
]
test_pipeline = train_pipeline


def _split(name, pipeline, test_mode):
    return dict(type=dataset_type, ann_file=f'{data_root}/motion_events_{name}_list.txt',
                data_prefix=dict(events=f'{data_root}/events'), pipeline=pipeline,
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
