# Cityscapes sequences as clips that end at the annotated frame (frame 19 of each 30-frame
# snippet; only it has gtFine), for MMSeg configs.
#   data_root/leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
#   data_root/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png
# (labelTrainIds: MMSeg's tools/dataset_converters/cityscapes.py writes them.)  Clips of 4 frames
# every 3rd frame (the annotated frame and the three at -3, -6, -9, as CFFM samples them); the
# other frames' targets are the ignore index, so only the annotated frame is trained on and
# scored.  19 classes.  mVC needs annotated windows, which these clips do not have: not reported.
dataset_type = 'CityscapesSeqClipDataset'
data_root = 'data/cityscapes'
clip_len = 4
crop_size = (512, 1024)

train_pipeline = [
    dict(type='LoadClipFrames'), dict(type='LoadClipSegMaps'),
    dict(type='ClipRandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0)),
    dict(type='ClipRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='ClipRandomFlip', prob=0.5), dict(type='PackClipSegInputs')]
test_pipeline = [
    dict(type='LoadClipFrames'), dict(type='ClipResize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadClipSegMaps'), dict(type='PackClipSegInputs')]

train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', clip_len=clip_len, gap=3,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', clip_len=clip_len, gap=3,
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=())
test_evaluator = [dict(type='VideoIoUMetric', iou_metrics=['mIoU'], vc_lengths=()),
                  dict(type='SpikeEnergyMetric')]
