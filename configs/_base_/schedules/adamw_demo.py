# The demos' schedule: 8 epochs, one of linear warm-up, then cosine annealing.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_begin=1, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# fused=True: torch's one-kernel AdamW (CPU and CUDA); the default per-tensor loop can be a
# large part of a CPU training step (tools/benchmark.py steps --optimizer measures it).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, eta_min=1e-5, by_epoch=True, begin=1, end=8),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
