"""SVFormer configs: exact parameter counts, and real MP4s through the UCF101 recipe."""
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import mmspike  # noqa: F401
from helpers import train_two_iterations

from helpers import REPO, SAMPLE_VIDEOS  # noqa: E402

from mmspike.apis import build_model  # noqa: E402
REAL_VIDEOS = ('kinetics_arm_wrestling.mp4', 'short_clip.mp4')


def build_config_model(config):
    return build_model(Config.fromfile(osp.join(REPO, 'configs', config)))


@pytest.mark.parametrize('config,expected', [('svformer_ucf101.py', 13_801_612),
                                             ('svformer_ntu60.py', 13_759_587)])
def test_recognizer_parameter_count(config, expected):
    model = build_config_model(config)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_demo_config_builds_the_small_model():
    model = build_config_model('svformer_demo.py')
    assert model.backbone.num_frames == 16
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


@pytest.fixture
def real_video_list(tmp_path):
    missing = [v for v in REAL_VIDEOS if not osp.isfile(osp.join(SAMPLE_VIDEOS, v))]
    if missing:
        pytest.skip(f'the real sample videos {missing} are not in {SAMPLE_VIDEOS} '
                    '(set MMSPIKE_SAMPLE_VIDEOS to their folder)')
    ann = tmp_path / 'real_videos.txt'
    ann.write_text(''.join(f'{name} {label}\n' for label, name in enumerate(REAL_VIDEOS)))
    return str(ann)


def test_ucf101_recipe_trains_and_tests_on_real_mp4s(real_video_list, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'svformer_ucf101.py'))
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.ann_file = real_video_list
        loader.dataset.data_prefix = dict(video=SAMPLE_VIDEOS)
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    train_two_iterations(cfg, tmp_path)
    dump = tmp_path / 'predictions.pkl'
    cfg.test_evaluator = [dict(type='AccMetric'), dict(type='DumpResults',
                                                         out_file_path=str(dump))]
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    views = []
    runner.model.backbone.register_forward_pre_hook(
        lambda module, args: views.append(tuple(args[0].shape)))
    metrics = runner.test()
    # every video is tested as 5 clips x 3 crops of 16 x 224 x 224
    assert views == [(15, 3, 16, 224, 224)] * len(REAL_VIDEOS)
    import pickle
    with open(dump, 'rb') as f:
        predictions = pickle.load(f)
    assert [int(p['gt_label']) for p in predictions] == list(range(len(REAL_VIDEOS)))
    assert all(p['pred_score'].shape == (101, ) for p in predictions)
    # the reported top-1 is the one the dumped averaged scores give
    hits = [int(p['pred_score'].argmax()) == int(p['gt_label']) for p in predictions]
    assert metrics['acc/top1'] == pytest.approx(sum(hits) / len(hits))
    report = json.loads((tmp_path / 'firing_rates.json').read_text())
    assert len(report['layers']) == 38 + 1   # the backbone's neurons and the head's
    assert 0.0 < metrics['firing_rate_mean'] < 1.0
