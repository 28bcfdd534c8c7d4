# VSPW (the VSPW_480p release's layout) as clips of frames with per-frame masks, for MMSeg configs.
#   data_root/{train,val,test}.txt            video ids
#   data_root/data/<video>/origin/<stem>.jpg   frames;  data_root/data/<video>/mask/<stem>.png
# Masks: 0 "others" and 255 ignored (reduce_zero_label: 124 classes 0..123, ignore 255).
# Training: clips of clip_len consecutive frames (one random resize, crop and flip per clip).
# Test: whole videos (clip_len=None), resized to 480 px high; the segmentor covers them with
# windows of the backbone's T frames (test_cfg clip_len / clip_stride); masks are read at the
# original size, predictions resized back to it (mIoU at 480p, as VSPW reports).  mVC_8 and
# mVC_16 come from the same predictions (VideoIoUMetric).
dataset_type = 'VSPWClipDataset'
data_root = 'data/vspw/VSPW_480p'
clip_len = 8
crop_size = (480, 480)

train_pipeline = [
    dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
    dict(type='ClipRandomResize', scale=(853, 480), ratio_range=(0.5, 2.0)),
    dict(type='ClipRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='ClipRandomFlip', prob=0.5), dict(type='PackClipSegInputs')]
test_pipeline = [
    dict(type='LoadClipFrames'), dict(type='ClipResize', scale=(853, 480), keep_ratio=True),
    dict(type='LoadClipSegMaps'), dict(type='PackClipSegInputs')]

train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', clip_len=clip_len,
                 stride=clip_len, skip_short_videos=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', clip_len=None,
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=(8, 16))
test_evaluator = [dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=(8, 16)),
                  dict(type='SpikeEnergyMetric')]
