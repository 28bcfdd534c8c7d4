# SpikeVideoFormer large on Kinetics-400 (paper: 79.8 / 94.0 top-1 / top-5, 55.9M parameters,
# 412.1 mJ).  Not the paper's K400 schedule: a standard AdamW + cosine recipe, batch 64 in
# total (8 GPUs x 8).  Initialise from a
# Meta-SpikeFormer ImageNet checkpoint converted with tools/convert_metaspikformer.py:
#   --cfg-options model.backbone.init_cfg.checkpoint=<converted.pth>
#   torchrun --nproc_per_node=8 tools/train.py configs/spikevideoformer_k400.py --launcher pytorch
_base_ = [
    '_base_/models/spikevideoformer_large.py', '_base_/datasets/kinetics400.py',
    '_base_/runtime_mmaction.py'
]
max_epochs = 100
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# fused=True: torch's one-kernel AdamW (CPU and CUDA); the default per-tensor loop can be a
# large part of a CPU training step (tools/benchmark.py steps --optimizer measures it).
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6, by_epoch=True, begin=5,
         end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
