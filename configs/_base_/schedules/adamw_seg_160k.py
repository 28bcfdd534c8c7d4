# 160k iterations of AdamW (lr 6e-5, head x10), 1500 warm-up iterations, poly decay: SegFormer's
# ADE20K / Cityscapes schedule (MMSeg's segformer configs), used for the clip recipes as it is,
# not tuned.  Validation every 16k iterations (configs that use it also set iteration-based
# checkpoints and logging, which live in the runtime base).
# fused=True: torch's one-kernel AdamW (CPU and CUDA); the default per-tensor loop can be a
# large part of a CPU training step (tools/benchmark.py steps --optimizer measures it).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01, fused=True),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.), 'head': dict(lr_mult=10.)}),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
