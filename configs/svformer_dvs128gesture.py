# SVFormer on DVS128 Gesture: 2-channel (OFF/ON event counts) stem, 16 frames of 128 x 128,
# 11 classes.
#   python tools/train.py configs/svformer_dvs128gesture.py
# The SVFormer paper evaluates DVS128 Gesture but does not give its setting, so the recipe is
# spikingjelly's own DVS128 Gesture example
# (spikingjelly.activation_based.examples.classify_dvsg: T = 16, split_by='number', batch 16,
# Adam lr 1e-3 without weight decay, cosine annealing over 64 epochs, no augmentation, raw event
# counts as input); with its CSNN that example reaches 96.2% test top-1.  The model is the
# paper's 'base' SVFormer (PLIF neurons), only the stem's input channels differ.
_base_ = [
    '_base_/models/svformer_base.py', '_base_/datasets/dvs128gesture.py',
    '_base_/runtime_mmaction.py'
]
num_frames = 16
img_size = 128
num_classes = 11
model = dict(
    backbone=dict(in_channels=2, num_frames=num_frames, img_size=img_size),
    cls_head=dict(num_classes=num_classes, num_frames=num_frames, feat_size=img_size // 32),
    # event counts go in as they are (no RGB mean/std), as in spikingjelly's example
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=None, std=None,
                           format_shape='NCTHW'))
randomness = dict(seed=0, deterministic=False)

max_epochs = 64
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
