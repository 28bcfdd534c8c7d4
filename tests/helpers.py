"""Config edits shared by the runner-level tests."""


def train_two_iterations(cfg, work_dir):
    """Turn ``cfg`` into a 2-iteration training run without validation, logging every step and
    checkpointing at the end."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.work_dir = str(work_dir)
    return cfg
