"""Config edits and tool runs shared by the runner-level tests."""
import os
import subprocess
import sys
from pathlib import Path


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


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA = os.path.join(REPO, 'tests', 'data')
#: real sample videos (MP4) for the tests that decode real files: MMSPIKE_SAMPLE_VIDEOS, else a
#: ``shared/data/videos`` folder beside the clone
SAMPLE_VIDEOS = os.environ.get('MMSPIKE_SAMPLE_VIDEOS', os.path.join(
    os.path.dirname(REPO), 'shared', 'data', 'videos'))


def run_tool(args, cwd):
    """Run a Python tool (``args[0]`` a script path) in a subprocess; return its stdout, or fail
    the test with the end of its output."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    result = subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def train_then_test(cfg_path, work_dir, cwd):
    """``tools/train.py`` then ``tools/test.py`` on the last checkpoint, as users run
    them; returns the checkpoint and the ``mmspike test result`` line the test tool printed."""
    tools = os.path.join(REPO, 'tools')
    run_tool([os.path.join(tools, 'train.py'), cfg_path, '--work-dir', work_dir], cwd)
    ckpt = (Path(work_dir) / 'last_checkpoint').read_text().strip()
    out = run_tool([os.path.join(tools, 'test.py'), cfg_path, ckpt, '--work-dir', work_dir], cwd)
    summary = [line for line in out.splitlines() if line.startswith('mmspike test result')]
    assert summary, out
    return ckpt, summary[0]


def train_pose_runner_two_iterations(cfg, work_dir):
    """Train a video pose config (already set to 2 iterations, checkpoint at the end) through
    mmengine's Runner; check the checkpoint and that every pose loss logged is finite."""
    import math

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert (Path(work_dir) / 'iter_2.pth').exists()
    logged = runner.message_hub.log_scalars
    for key in ('train/loss', 'train/loss_pose', 'train/loss_velocity', 'train/mpjpe'):
        assert math.isfinite(float(logged[key].current())), key
    return runner


def shrink_pose_config(cfg, root, work_dir, clip_len, size, tiny=False):
    """Point every dataloader of a video pose config at ``root`` with ``clip_len``-frame clips of
    ``size`` x ``size`` (every pipeline step with a ``size``), batches of 2 and no workers; set
    it to train 2 iterations (:func:`train_two_iterations`) and keep the test loop.  With
    ``tiny`` the backbone becomes SpikeVideoFormer 'tiny' (and the head follows)."""
    cfg.embedded_dataset = None
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=str(root), clip_len=clip_len,
                              stride=4 if split == 'train' else None)
        for step in loader.dataset.pipeline:
            if 'size' in step:
                step['size'] = size
    cfg.model.backbone.num_frames = clip_len
    if tiny:
        from mmspike.backbones import SpikeVideoFormer
        cfg.model.backbone.arch = 'tiny'
        cfg.model.head.in_channels = SpikeVideoFormer.arch_zoo['tiny']['embed_dims'][-1]
    if cfg.model.head.get('feat_size') is not None:
        cfg.model.head.feat_size = size // 16  # SpikeVideoFormer's output stride
    train_two_iterations(cfg, work_dir)
    cfg.log_level = 'WARNING'
    return cfg


def calibrate_batch_norms(model, run):
    """Give every BatchNorm of ``model`` the statistics of the batch that ``run()`` feeds it (in
    training mode, no gradients), then return ``model`` in eval mode.  A random-init spiking
    model's neurons hardly fire in eval mode with the default statistics (mean 0, variance 1);
    with these they fire as in training."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        run()
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def shrink_action_config(cfg, clips_root, frames, size, batch_size=4,
                         splits=('train', 'val', 'test')):
    """Point the ``splits`` dataloaders of an action demo config (``svformer_demo.py``,
    ``spikevideoformer_demo.py``) at the motion clips written to ``clips_root``: ``frames``
    frames of ``size`` x ``size``, ``batch_size`` clips, no workers; the backbone and the head
    follow the clip shape and the embedded dataset is switched off."""
    cfg.embedded_dataset = None
    cfg.model.backbone.num_frames = frames
    if 'img_size' in cfg.model.backbone:
        cfg.model.backbone.img_size = size
    stride = 32 if cfg.model.backbone.type == 'SVFormer' else 16
    cfg.model.cls_head.update(num_frames=frames, feat_size=max(size // stride, 1))
    for split in splits:
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
        loader.dataset.update(ann_file=os.path.join(clips_root,
                                                    f'motion_clips_{split}_list_videos.txt'),
                              data_prefix=dict(video=os.path.join(clips_root, 'videos')))
        for step in loader.dataset.pipeline:
            if step['type'] == 'SampleFrames':
                step['clip_len'] = frames
            if step['type'] == 'Resize':
                step['scale'] = (size, size)
    return cfg


def train_tiny_svformer_demo(root, frames=8, size=32, log_level=None):
    """``configs/svformer_demo.py`` shrunk to one clip per class and split (``frames`` x
    ``size`` x ``size``, written under ``root``) and trained for 2 iterations; returns the
    dumped config's path, the checkpoint and ``root``."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmspike.datasets.synthetic.motion_clips import write_dataset
    clips = str(Path(root) / 'clips')
    write_dataset(clips, train_per_class=1, val_per_class=1, test_per_class=1,
                  num_frames=frames, size=size, seed=0)
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'svformer_demo.py'))
    shrink_action_config(cfg, clips, frames, size)
    train_two_iterations(cfg, Path(root) / 'train')
    if log_level is not None:
        cfg.log_level = log_level
    Runner.from_cfg(cfg).train()
    cfg_path = Path(root) / 'tiny_svformer_demo.py'
    cfg.dump(str(cfg_path))
    return cfg_path, str(Path(root) / 'train' / 'iter_2.pth'), Path(root)


def write_mp4(path, frames, fps=8):
    """Write RGB uint8 frames ``[T, H, W, 3]`` as an MP4 (OpenCV's mp4v); return the path."""
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (frames.shape[2], frames.shape[1]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def all_files(root):
    """The relative paths of every file under the ``pathlib.Path`` ``root``, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file())
