"""Bad input stops a run before its first training step, with an error that names the problem:
empty, truncated, missing and too-short videos, NaN/Inf input, an unknown ``arch``, a pipeline
``clip_len`` that differs from the backbone's ``num_frames``, a training batch of one clip for a
head that needs two."""
import argparse
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement
from torch.utils.data import DataLoader

import mmspike  # noqa: F401
from mmspike.backbones import SpikeVideoFormer, SVFormer
from mmspike.backbones.spiking_convnet import SpikingConvNet
from mmspike.engine.run_checks import (DataCheckError, check_dataset_files,
                                     check_train_batch_size)
from mmspike.heads.action import SVFormerHead
from mmspike.data_preprocessors.clip_data_preprocessor import ClipDataPreprocessor
from mmspike.engine.runner import load_run_config

from helpers import REPO  # noqa: E402
SVFORMER_DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')
CLIP_LEN = 16


def write_video(path, frames, size=32):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 25.0, (size, size))
    rng = np.random.default_rng(frames)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    writer.release()


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """``videos/`` with good 16-frame clips, an empty file, a 16-frame file cut in half and a
    4-frame clip; ``bad.txt`` lists those and a file that does not exist."""
    root = tmp_path_factory.mktemp('bad_videos')
    (root / 'videos').mkdir()
    for i in range(3):
        write_video(root / 'videos' / f'ok{i}.mp4', CLIP_LEN)
    (root / 'videos' / 'empty.mp4').write_bytes(b'')
    write_video(root / 'videos' / 'whole.mp4', CLIP_LEN)
    data = (root / 'videos' / 'whole.mp4').read_bytes()
    (root / 'videos' / 'truncated.mp4').write_bytes(data[:len(data) // 2])
    write_video(root / 'videos' / 'short.mp4', 4)
    (root / 'bad.txt').write_text('ok0.mp4 0\nempty.mp4 1\ntruncated.mp4 0\nmissing.mp4 1\n'
                                  'short.mp4 0\n')
    (root / 'good.txt').write_text('ok0.mp4 0\nok1.mp4 1\nok2.mp4 0\n')
    return root


def video_dataset(root, ann='bad.txt'):
    from mmaction.datasets import VideoDataset
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    pipeline = [dict(type='DecordInit'),
                dict(type='SampleFrames', clip_len=CLIP_LEN, frame_interval=1, num_clips=1),
                dict(type='DecordDecode')]
    return VideoDataset(ann_file=str(root / ann), data_prefix=dict(video=str(root / 'videos')),
                        pipeline=pipeline)


def test_bad_videos_are_listed_with_reason_count_and_annotation_file(videos):
    dataset = video_dataset(videos)
    with pytest.raises(DataCheckError) as info:
        check_dataset_files(dataset, 'train_dataloader')
    message = str(info.value)
    assert (f"4 problem(s) in the 5 videos listed in annotation file '{videos / 'bad.txt'}'"
            in message)
    lines = message.splitlines()

    def line_of(name):
        found = [line for line in lines if line.strip().startswith(str(videos / 'videos' / name))]
        assert len(found) == 1, (name, message)
        return found[0]

    assert line_of('empty.mp4').endswith('is empty (0 bytes)')
    assert 'cannot be opened as a video' in line_of('truncated.mp4')
    assert 'truncated or not a video' in line_of('truncated.mp4')
    assert line_of('missing.mp4').endswith('does not exist')
    assert line_of('short.mp4').endswith('has 4 frames, fewer than clip_len=16 (SampleFrames)')
    assert 'ok0.mp4' not in message
    assert 'dataset_check.probe=False' in message  # the documented opt-out

    # only the first max_listed are listed, the count stays
    with pytest.raises(DataCheckError, match=r"4 problem\(s\) in the 5 videos") as info:
        check_dataset_files(dataset, 'train_dataloader', max_listed=2)
    assert '... and 2 more' in str(info.value)
    assert 'short.mp4' not in str(info.value)


def test_without_probe_only_missing_and_empty_files_are_found(videos):
    with pytest.raises(DataCheckError) as info:
        check_dataset_files(video_dataset(videos), probe=False)
    message = str(info.value)
    assert '2 problem(s) in the 5 videos' in message
    assert 'missing.mp4: does not exist' in message and 'empty.mp4: is empty' in message
    assert 'truncated.mp4' not in message and 'short.mp4' not in message
    assert check_dataset_files(video_dataset(videos, 'good.txt')) == 3


def test_long_lists_log_progress(videos, monkeypatch):
    import mmspike.engine.run_checks as checks
    monkeypatch.setattr(checks, 'PROGRESS_EVERY_S', -1.0)  # a line after every entry

    class Lines(list):
        info = list.append

    lines = Lines()
    assert check_dataset_files(video_dataset(videos, 'good.txt'), logger=lines) == 3
    ann = videos / 'good.txt'
    assert [line.split(', ')[0] for line in lines] == [
        f'dataset check: {i}/3 entries of {ann} checked (0 bad' for i in (1, 2, 3)]


def write_demo_config(path, root, train_ann, batch_size=2):
    """An SVFormer demo config on the videos in ``root`` (no generated dataset)."""
    path.write_text(
        f"_base_ = [{SVFORMER_DEMO!r}]\n"
        f"embedded_dataset = None\n"
        f"_loader = dict(batch_size={batch_size}, num_workers=0, persistent_workers=False)\n"
        f"train_dataloader = dict(_loader, dataset=dict(ann_file={str(root / train_ann)!r}, "
        f"data_prefix=dict(video={str(root / 'videos')!r})))\n"
        f"val_dataloader = dict(_loader, dataset=dict(ann_file={str(root / 'good.txt')!r}, "
        f"data_prefix=dict(video={str(root / 'videos')!r})))\n"
        f"test_dataloader = val_dataloader\n"
        f"train_cfg = dict(max_epochs=1)\n"
        f"default_hooks = dict(logger=dict(interval=1))\n")
    return path


def test_train_tool_stops_before_the_first_step_on_bad_videos(videos, tmp_path):
    # batch_size 5: one full batch (a last batch of one clip would be refused first)
    config = write_demo_config(tmp_path / 'bad_videos.py', videos, 'bad.txt', batch_size=5)
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
         str(work_dir)], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert ('DataCheckError: train_dataloader: 4 problem(s) in the 5 videos'
            in output), output[-3000:]
    for name in ('empty.mp4', 'truncated.mp4', 'missing.mp4', 'short.mp4'):
        assert name in output
    assert 'Epoch(train)' not in output  # no training step logged
    assert not list(work_dir.glob('**/*.pth'))


def run_args(config, work_dir, **cfg_options):
    return argparse.Namespace(config=str(config), cfg_options=cfg_options or None,
                              launcher='none', work_dir=str(work_dir), local_rank=0)


def test_clip_len_that_differs_from_num_frames_fails_when_the_config_loads(tmp_path):
    with pytest.raises(DataCheckError) as info:
        load_run_config(run_args(SVFORMER_DEMO, tmp_path, **{'model.backbone.num_frames': 8}))
    message = str(info.value)
    assert 'model.backbone (SVFormer) num_frames=8' in message
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert f'{loader}: pipeline step SampleFrames clip_len=16' in message
    # a matching config loads, and gets the dataset check hook
    cfg = load_run_config(run_args(SVFORMER_DEMO, tmp_path))
    assert [h['type'] for h in cfg.custom_hooks].count('DatasetCheckHook') == 1
    cfg = load_run_config(run_args(SVFORMER_DEMO, tmp_path, **{'dataset_check.enable': False}))
    assert 'DatasetCheckHook' not in [h['type'] for h in cfg.get('custom_hooks', [])]


def svformer_head(num_frames=2):
    return SVFormerHead(num_classes=3, in_channels=8, num_frames=num_frames, feat_size=1)


def test_svformer_head_names_itself_for_a_training_batch_of_one():
    head = svformer_head().train()
    with pytest.raises(ValueError) as info:
        head(torch.rand(2, 1, 8, 1, 1))
    message = str(info.value)
    assert message.startswith('SVFormerHead: a training batch of 1 clip(s) per process')
    assert 'temporal_bn' in message and 'train_dataloader.batch_size >= 2' in message
    assert head(torch.rand(2, 2, 8, 1, 1)).shape == (2, 3)
    assert head.eval()(torch.rand(2, 1, 8, 1, 1)).shape == (1, 3)


def test_a_trailing_batch_of_one_is_found_from_the_sampler():
    model = torch.nn.ModuleDict(dict(cls_head=svformer_head()))
    data = list(range(5))

    def loader(**kwargs):
        sampler = kwargs.pop('sampler', DefaultSampler(data, shuffle=False))
        return DataLoader(data, batch_size=2, sampler=sampler, **kwargs)

    with pytest.raises(DataCheckError) as info:
        check_train_batch_size(model, loader())
    message = str(info.value)
    assert 'a training batch would hold 1 clip(s) per process' in message
    assert '5 clips per process with batch_size=2 leave 1' in message
    assert 'model.cls_head (SVFormerHead) needs at least 2' in message
    check_train_batch_size(model, loader(drop_last=True))
    check_train_batch_size(model, loader(sampler=InfiniteSampler(data, shuffle=False)))


def test_runner_refuses_batch_size_one_before_the_first_step(videos, tmp_path):
    config = write_demo_config(tmp_path / 'batch_one.py', videos, 'good.txt', batch_size=1)
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='DatasetCheckHook')]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(DataCheckError) as info:
        runner.train()
    message = str(info.value)
    assert 'a training batch would hold 1 clip(s) per process (batch_size=1)' in message
    assert 'model.cls_head (SVFormerHead) needs at least 2' in message
    assert runner.iter == 0


def sample(path):
    return BaseDataElement(metainfo=dict(img_paths=[path, path + '.next']))


def test_preprocessor_counts_nan_and_inf_per_clip_and_names_the_file():
    clips = [torch.zeros(3, 2, 4, 4) for _ in range(3)]
    clips[1][0, 0, 0, :2] = float('nan')
    clips[2][2, 1, 3, 3] = float('-inf')
    samples = [sample(f'video_{i}/000.jpg') for i in range(3)]
    preprocessor = ClipDataPreprocessor(mean=[0.0] * 3, std=[1.0] * 3)
    with pytest.raises(ValueError) as info:
        preprocessor(dict(inputs=clips, data_samples=samples))
    message = str(info.value)
    assert '2 NaN and 1 Inf values in 2 of 3 clips' in message
    assert 'clip 1 (video_1/000.jpg): 2 NaN, 0 Inf' in message
    assert 'clip 2 (video_2/000.jpg): 0 NaN, 1 Inf' in message
    assert 'clip 0' not in message
    finite = [torch.zeros(3, 2, 4, 4, dtype=torch.uint8) for _ in range(3)]
    assert preprocessor(dict(inputs=finite, data_samples=samples))['inputs'].shape == \
        (3, 3, 2, 4, 4)


@pytest.mark.parametrize('backbone', [
    lambda: SVFormer(arch='tiny', num_frames=2, img_size=64),
    lambda: SpikeVideoFormer(arch='tiny', num_frames=2),
])
def test_backbones_refuse_nan_and_inf_input(backbone):
    model = backbone()
    size = 64 if isinstance(model, SVFormer) else 32
    x = torch.rand(2, 3, 2, size, size)
    x[1, 0, 0, 0, 0] = float('inf')
    x[1, 2, 1, 5, 5] = float('nan')
    x[1, 2, 1, 6, 6] = float('nan')
    with pytest.raises(ValueError) as info:
        model(x)
    message = str(info.value)
    assert message.startswith(f'{type(model).__name__}: the input (shape {tuple(x.shape)})')
    assert '2 NaN and 1 Inf values in 1 of 2 clips [clip 1: 2 NaN, 1 Inf]' in message


@pytest.mark.parametrize('cls', [SVFormer, SpikeVideoFormer, SpikingConvNet])
def test_unknown_arch_lists_the_valid_ones(cls):
    from mmaction.registry import MODELS
    for build in (lambda: cls(arch='gigantic'),
                  lambda: MODELS.build(dict(type=cls.__name__, arch='gigantic'))):
        with pytest.raises(ValueError) as info:
            build()
        message = str(info.value)
        assert f"{cls.__name__}: unknown arch 'gigantic'; expected one of " \
               f'{sorted(cls.arch_zoo)}' in message


def test_bad_event_files_are_listed_by_the_run_check(tmp_path):
    """Event clips (``.npz``) are read with load_events by the same check: a corrupt, an empty
    and a missing file are named with their reason; a good one passes."""
    import mmspike.action  # noqa: F401  (registers EventClipDataset in MMAction2)
    from mmspike.datasets.events import save_events
    from mmaction.registry import DATASETS
    root = tmp_path / 'events'
    root.mkdir()
    t = np.arange(10, dtype=np.int64) * 100
    save_events(str(root / 'good.npz'), t, t % 8, t % 4, (t // 100) % 2, height=4, width=8)
    (root / 'corrupt.npz').write_bytes(b'not a zip file at all')
    (root / 'empty.npz').write_bytes(b'')
    ann = tmp_path / 'events.txt'
    ann.write_text('good.npz 0\ncorrupt.npz 1\nempty.npz 0\nmissing.npz 1\n')
    dataset = DATASETS.build(dict(type='EventClipDataset', ann_file=str(ann),
                                  data_prefix=dict(events=str(root)), pipeline=[]))
    with pytest.raises(DataCheckError) as info:
        check_dataset_files(dataset, 'train_dataloader')
    message = str(info.value)
    assert '3 problem(s) in the 4 event files listed in annotation file' in message, message
    assert f"{root / 'corrupt.npz'}: cannot be read as events" in message
    assert f"{root / 'empty.npz'}: is empty (0 bytes)" in message
    assert f"{root / 'missing.npz'}: does not exist" in message
    assert 'good.npz' not in message
    # a stream with zero events: refused, unless the pipeline reads it with allow_empty=True
    no_events = np.zeros(0, np.int64)
    save_events(str(root / 'silent.npz'), no_events, no_events, no_events, no_events, height=4,
                width=8, allow_empty=True)
    ann.write_text('good.npz 0\nsilent.npz 1\n')
    for allow_empty in (False, True):
        dataset = DATASETS.build(dict(type='EventClipDataset', ann_file=str(ann),
                                      data_prefix=dict(events=str(root)),
                                      pipeline=[dict(type='LoadEvents', allow_empty=allow_empty)]))
        if allow_empty:
            check_dataset_files(dataset, 'train_dataloader')
            continue
        with pytest.raises(DataCheckError) as info:
            check_dataset_files(dataset, 'train_dataloader')
        assert f"{root / 'silent.npz'}: cannot be read as events" in str(info.value)
        assert 'no events' in str(info.value) or 'zero events' in str(info.value), info.value
