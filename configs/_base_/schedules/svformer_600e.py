# SVFormer's recipe: AdamW lr 6e-3 (not scaled with batch size), weight decay 0.05 (0 for BN
# and biases), 30 warm-up epochs from 1e-6, cosine to 1e-6 over 600 epochs, grad-norm clip 20,
# batch 64 in total (4 GPUs x 16).
max_epochs = 600
warmup_epochs = 30
base_lr = 6e-3
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# fused=True: torch's one-kernel AdamW (CPU and CUDA); the default per-tensor loop can be a
# large part of a CPU training step (tools/benchmark.py steps --optimizer measures it).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / base_lr, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
# The official recipe does not scale the learning rate; keep it that way by default.
auto_scale_lr = dict(enable=False, base_batch_size=64)
