# The runtime every mmspike config shares, whatever the codebase: hooks, environment, logging.
# Each task codebase has a runtime base that inherits this one and sets its scope, visualizer
# and task adapter: runtime_mmaction.py, runtime_mmpose.py, runtime_mmseg.py.
custom_imports = dict(imports=['mmspike'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # mmspike.hooks.checkpoint_hooks: RNG states saved in every checkpoint and restored on resume
    # (exact resume); a checkpoint whose tensor shapes do not fit the model is refused.
    rng_state=dict(type='RNGStateHook'),
    checkpoint_check=dict(type='CheckpointShapeCheckHook'),
    # mmspike.hooks.EmbeddedDatasetHook: writes the config's `embedded_dataset` (the demos'
    # generated data) when the Runner is built, before any dataset is, so that the stock
    # tools/train.py and tools/test.py of MMAction2, MMPose and MMSeg find it; nothing without
    # one, and a dataset already written is reused.
    embedded_dataset=dict(type='EmbeddedDatasetHook'))

# SpikeResetHook: no membrane state leaks between batches.
# FiringRateHook: logs the mean firing rate next to the val/test metrics.
custom_hooks = [dict(type='SpikeResetHook'), dict(type='FiringRateHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
log_level = 'INFO'
load_from = None
resume = False
