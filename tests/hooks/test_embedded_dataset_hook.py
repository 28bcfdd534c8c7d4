"""EmbeddedDatasetHook: it writes an embedded dataset when it is built, from its argument or
from the config of the Runner that builds it (the runtime bases put it in every config's
``default_hooks``), reuses a dataset already written, and writes nothing without one."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

from helpers import REPO
from mmspike.hooks import EmbeddedDatasetHook


def tiny_seg_clips(root):
    return dict(root=str(root), generator='seg_clips', train_videos=1, val_videos=1,
                test_videos=1, frames_per_video=2, img_size=16, seed=0)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return self.linear(inputs)


def runner_with(cfg, work_dir):
    """A Runner with only the hook of the runtime bases and ``cfg`` as its config."""
    return Runner(model=ToyModel(), work_dir=str(work_dir), cfg=Config(cfg),
                  default_hooks=dict(embedded_dataset=dict(type='EmbeddedDatasetHook')),
                  experiment_name=f'embedded_{osp.basename(str(work_dir))}')


def test_writes_its_dataset_then_reuses_it(tmp_path, capsys):
    spec = tiny_seg_clips(tmp_path / 'seg_clips')
    hook = EmbeddedDatasetHook(dataset=spec)
    meta = json.loads((tmp_path / 'seg_clips' / 'meta.json').read_text())
    assert hook.meta == meta and meta['generator'] == 'mmspike.seg_clips'
    assert hook.dataset == spec
    stamp = osp.getmtime(tmp_path / 'seg_clips' / 'meta.json')
    capsys.readouterr()
    EmbeddedDatasetHook(dataset=spec)
    assert '[seg_clips] reusing' in capsys.readouterr().out
    assert osp.getmtime(tmp_path / 'seg_clips' / 'meta.json') == stamp


def test_outside_a_runner_without_a_dataset_it_does_nothing():
    hook = EmbeddedDatasetHook()
    assert hook.dataset is None and hook.meta is None
    with pytest.raises(TypeError, match='dataset must be a dict .* got list'):
        EmbeddedDatasetHook(dataset=[1])


def test_follows_the_config_of_the_runner_that_builds_it(tmp_path):
    root = tmp_path / 'seg_clips'
    runner = runner_with(dict(embedded_dataset=tiny_seg_clips(root)), tmp_path / 'a')
    assert osp.isfile(root / 'meta.json')
    hooks = [h for h in runner.hooks if isinstance(h, EmbeddedDatasetHook)]
    assert len(hooks) == 1 and hooks[0].dataset['root'] == str(root)
    # a config whose embedded_dataset is None (or absent) writes nothing
    for cfg in (dict(embedded_dataset=None), dict()):
        runner = runner_with(cfg, tmp_path / f'b{len(cfg)}')
        hook, = [h for h in runner.hooks if isinstance(h, EmbeddedDatasetHook)]
        assert hook.dataset is None and hook.meta is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a', 'b0', 'b1', 'seg_clips']


@pytest.mark.parametrize('config', ['svformer_demo.py', 'svformer_demo_events.py',
                                    'spikevideoformer_pose_demo.py',
                                    'spikevideoformer_seg_demo.py'])
def test_every_demo_config_has_the_hook(config):
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    assert cfg.embedded_dataset['root']
    assert cfg.default_hooks.embedded_dataset == dict(type='EmbeddedDatasetHook')
