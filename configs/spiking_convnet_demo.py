# The tiny spiking CNN on the embedded motion-clips dataset: a CPU demo that trains in minutes.
#   python tools/train.py configs/spiking_convnet_demo.py
_base_ = [
    '_base_/models/spiking_convnet_tiny.py', '_base_/datasets/motion_clips.py',
    '_base_/schedules/adamw_demo.py', '_base_/runtime_mmaction.py'
]
randomness = dict(seed=0, deterministic=False)
# 10 epochs (the action demos' schedule has 8)
train_cfg = dict(max_epochs=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=9, eta_min=1e-5, by_epoch=True, begin=1, end=10),
]
