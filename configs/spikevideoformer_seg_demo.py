# A small SpikeVideoFormer for video semantic segmentation on the embedded segmentation clips
# (the CPU demo):
#   bash tools/demo.sh configs/spikevideoformer_seg_demo.py
# or step by step:
#   python tools/train.py configs/spikevideoformer_seg_demo.py
#   python tools/test.py configs/spikevideoformer_seg_demo.py <work_dir>/<checkpoint> --show-dir vis
# Data: mmspike.datasets.synthetic.seg_clips written in the VSPW layout under data_root on first
# use (from `embedded_dataset`, by EmbeddedDatasetHook when the Runner is built: mmspike's and
# the stock tools/train.py and tools/test.py; deterministic by seed): 96 training, 24
# validation and 24 test videos of 24 frames, 80 x 80; six classes (sky, ground, ball, box, kite,
# bar) over mask value 0, "others", which is ignored (reduce_zero_label, as VSPW).  Read by the
# VSPW clip dataset with the generator's own classes (own_classes=True).
# Training clips: 8 consecutive frames, starts 4 frames apart, one random horizontal flip per
# clip.  Test: whole 24-frame videos, covered by windows of 8 frames (test_cfg clip_len 8,
# stride 4: a frame's logits are the mean over its windows), so mVC_8 and mVC_16 exist.
# Model: arch 'tiny' (widths 16/32/64/96) with all four stages (strides 4/8/16/16) into
# SpikeSegformerHead (32 channels), binary LIF neurons (SpikeVideoFormer's LIF, tau 2, sigmoid
# surrogate) in the backbone and the head, and no neuron before the classifier
# (output_neuron=False: its 1x1 conv reads the fused BN output, real-valued MACs; with that
# neuron the model predicts no "thing" class at all).  Binary LIF reaches a higher test mIoU than
# I-LIF D = 4 at less energy (its neurons fire less); the paper's I-LIF setting is in
# configs/spikevideoformer_seg_cityscapes_ilif4.py.  No class-weighted loss: MMSeg 1.2.2's
# CrossEntropyLoss with class_weight fails on the ignore index.
# Frames of 80 x 80, 20 epochs of 60 steps: at 64 x 64 (stride-4 logits of 16 x 16) the thin bars
# and pointed kites lose most at their borders.
# Palette: class colours that differ from the objects' own colours, so that the overlays of
# --show-dir are readable.
# Results and the runs behind these choices: docs/segmentation.md.
_base_ = ['_base_/runtime_mmseg.py']

data_root = 'data/seg_clips'
embedded_dataset = dict(root=data_root, generator='seg_clips', train_videos=96, val_videos=24,
                        test_videos=24, frames_per_video=24, img_size=80, seed=0)
classes = ('sky', 'ground', 'ball', 'box', 'kite', 'bar')
palette = [[255, 230, 0], [0, 60, 255], [0, 255, 255], [255, 0, 128], [0, 255, 0],
           [255, 128, 0]]
metainfo = dict(classes=classes, palette=palette, own_classes=True)
clip_len = 8
neuron_cfg = dict(type='LIF', tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                  surrogate=dict(type='sigmoid', alpha=4.0), detach_reset=True)

model = dict(
    type='VideoEncoderDecoder',
    backbone=dict(type='SpikeVideoFormer', arch='tiny', attention='joint', sim='hamming',
                  num_frames=clip_len, neuron_cfg=neuron_cfg, out_indices=(0, 1, 2, 3)),
    decode_head=dict(type='SpikeSegformerHead', in_channels=(16, 32, 64, 96), channels=32,
                     num_classes=len(classes), in_index=(0, 1, 2, 3), dropout_ratio=0.0,
                     neuron_cfg=neuron_cfg, output_neuron=False, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0, avg_non_ignore=True)),
    data_preprocessor=dict(type='ClipDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], pad_size_divisor=16),
    test_cfg=dict(mode='whole', clip_len=clip_len, clip_stride=4))
randomness = dict(seed=0, deterministic=False)

train_pipeline = [dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
                  dict(type='ClipRandomFlip', prob=0.5), dict(type='PackClipSegInputs')]
test_pipeline = [dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
                 dict(type='PackClipSegInputs')]
dataset = dict(type='VSPWClipDataset', data_root=data_root, metainfo=metainfo,
               reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, split='train', clip_len=clip_len, stride=4, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, split='val', clip_len=None, pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=(8, 16))
test_evaluator = [dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=(8, 16)),
                  dict(type='SpikeEnergyMetric')]

max_epochs = 20
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=max_epochs,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-3, betas=(0.9, 0.999),
                                    weight_decay=0.01),
                     clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best='mIoU',
                                     rule='greater'))
