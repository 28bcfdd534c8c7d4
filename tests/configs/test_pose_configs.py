"""The pose configs: they load and build in MMPose's scope; the demo config trains and tests
through tools/train.py and tools/test.py, and the MMHPSD config trains through mmengine's
Runner, both on a tiny generated MMHPSD-layout tree."""
import os.path as osp

import pytest

pytest.importorskip('mmpose')

from mmengine.config import Config  # noqa: E402

import mmspike.pose  # noqa: E402,F401  (registers the pose parts in mmpose's registries)
from helpers import (shrink_pose_config, train_pose_runner_two_iterations,  # noqa: E402
                     train_then_test)
from mmspike.backbones.spikevideoformer import SpikeVideoFormer  # noqa: E402
from mmspike.datasets.synthetic.pose_clips import write_dataset  # noqa: E402
from mmspike.estimators.pose import VideoPoseLifter  # noqa: E402

from helpers import REPO  # noqa: E402
from mmspike.apis import build_model  # noqa: E402
CONFIGS = osp.join(REPO, 'configs')
DEMO = osp.join(CONFIGS, 'spikevideoformer_pose_demo.py')
MMHPSD = osp.join(CONFIGS, 'spikevideoformer_pose_mmhpsd.py')
DATASET_BASE = osp.join(CONFIGS, '_base_', 'datasets', 'mmhpsd.py')
T, SIZE = 4, 32


@pytest.fixture(scope='module')
def tiny_mmhpsd(tmp_path_factory):
    root = tmp_path_factory.mktemp('pose') / 'mmhpsd'
    write_dataset(root, subjects=(1, 3), sequences_per_subject=1, frames_per_sequence=12,
                  img_size=SIZE)
    return str(root)


@pytest.mark.parametrize('path, widths, clip_len', [
    (MMHPSD, SpikeVideoFormer.arch_zoo['large']['embed_dims'], 32), (DEMO, (16, 32, 128, 192), 8)])
def test_config_loads_and_builds(path, widths, clip_len):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpose'
    assert 'mmspike.pose' in cfg.custom_imports['imports']
    model = build_model(cfg)
    assert type(model) is VideoPoseLifter
    assert isinstance(model.backbone, SpikeVideoFormer)
    assert model.backbone.embed_dims == widths
    assert model.backbone.num_frames == clip_len
    assert model.head.in_channels == model.backbone.embed_dims[-1]
    assert model.head.num_joints == 24
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.type == 'MMHPSDClipDataset' and dataset.clip_len == clip_len
        assert dataset.split == ('train' if split == 'train' else 'test')
    assert cfg.test_dataloader.dataset.gap == 2
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoPose3DMetric', 'SpikeEnergyMetric']
    assert cfg.val_evaluator['type'] == 'VideoPose3DMetric'


def test_dataset_base_loads():
    cfg = Config.fromfile(DATASET_BASE)
    assert cfg.data_root == 'data/mmhpsd'
    assert cfg.train_dataloader.sampler == dict(type='DefaultSampler', shuffle=True)
    assert cfg.train_dataloader.num_workers == 2 and cfg.train_dataloader.persistent_workers
    assert [step['type'] for step in cfg.test_dataloader.dataset.pipeline] == [
        'LoadClipFrames', 'PackClipPoseInputs']
    assert cfg.test_dataloader.dataset.gap == 2


def test_demo_config_names_the_embedded_pose_dataset():
    cfg = Config.fromfile(DEMO)
    assert cfg.embedded_dataset['generator'] == 'pose_clips'
    assert cfg.embedded_dataset['root'] == cfg.train_dataloader.dataset.data_root


def shrink(cfg, root, work_dir, tiny=False):
    return shrink_pose_config(cfg, root, work_dir, clip_len=T, size=SIZE, tiny=tiny)


@pytest.mark.parametrize('path, tiny', [(DEMO, False), (MMHPSD, True)])
def test_config_trains_and_tests_with_tools(path, tiny, tiny_mmhpsd, tmp_path):
    """tools/train.py then tools/test.py (the MMHPSD recipe with the 'tiny' widths)."""
    work_dir = tmp_path / 'work'
    cfg = shrink(Config.fromfile(path), tiny_mmhpsd, work_dir, tiny=tiny)
    assert [m['type'] for m in cfg.test_evaluator] == ['VideoPose3DMetric', 'SpikeEnergyMetric']
    cfg_path = tmp_path / 'tiny_pose.py'
    cfg.dump(str(cfg_path))
    ckpt, summary = train_then_test(cfg_path, work_dir, tmp_path)
    assert ckpt.endswith('iter_2.pth') and osp.isfile(ckpt)
    for key in ('pose/mpjpe=', 'pose/pa_mpjpe=', 'pose/baseline_pa_mpjpe=',
                'energy/mJ_per_sample=', 'energy/firing_rate='):
        assert key in summary, summary


@pytest.mark.parametrize('path', [DEMO, MMHPSD])
def test_config_trains_through_the_runner_in_mmpose_scope(path, tiny_mmhpsd, tmp_path):
    cfg = shrink(Config.fromfile(path), tiny_mmhpsd, tmp_path / 'work')
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    assert cfg.default_scope == 'mmpose'
    train_pose_runner_two_iterations(cfg, tmp_path / 'work')
