"""Runner-level tests: train/test tools, checkpoint resume, model-zoo inheritance, hooks."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmspike  # noqa: F401
from helpers import run_tool, train_then_test, train_two_iterations
from mmspike.datasets.synthetic.motion_clips import write_dataset

from helpers import REPO  # noqa: E402
DEMO_CONFIG = osp.join(REPO, 'configs', 'spiking_convnet_demo.py')
ZOO_CONFIG = osp.join(REPO, 'configs', 'spiking_convnet_c3d-zoo_ucf101.py')
TINY = dict(train_per_class=2, val_per_class=1, test_per_class=1, num_frames=8, size=32, seed=0)


@pytest.fixture(scope='module')
def tiny_clips(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('motion_clips'))
    write_dataset(root, **TINY)
    return root


def point_dataloaders_at(cfg, root, batch_size=4):
    """Send every dataloader of ``cfg`` to the motion clips in ``root``."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            continue
        loader.batch_size = batch_size
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.ann_file = osp.join(root, f'motion_clips_{split}_list_videos.txt')
        loader.dataset.data_prefix = dict(video=osp.join(root, 'videos'))
    cfg.embedded_dataset = None
    return cfg


def tiny_demo_cfg(root, work_dir, max_epochs=1):
    cfg = Config.fromfile(DEMO_CONFIG)
    point_dataloaders_at(cfg, root)
    for pipeline in (cfg.train_dataloader.dataset.pipeline, cfg.val_dataloader.dataset.pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        pipeline[1].clip_len = TINY['num_frames']
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    return cfg


def test_runner_checkpoint_resumes(tiny_clips, tmp_path):
    cfg = tiny_demo_cfg(tiny_clips, tmp_path, max_epochs=1)
    Runner.from_cfg(cfg).train()
    ckpt = osp.join(str(tmp_path), 'epoch_1.pth')
    assert osp.isfile(ckpt)
    # The upstream bug this repair works around: torch >= 2.6 refuses mmengine's full pickles.
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        torch.load(ckpt)

    cfg2 = tiny_demo_cfg(tiny_clips, tmp_path, max_epochs=2)
    cfg2.resume = True
    cfg2.load_from = ckpt
    runner = Runner.from_cfg(cfg2)
    runner.train()
    assert runner.epoch == 2
    state = torch.load(osp.join(str(tmp_path), 'epoch_2.pth'), weights_only=False)
    assert state['meta']['epoch'] == 2
    # the optimizer state travelled through the resume: AdamW step counts kept growing
    steps = [s['step'] for s in state['optimizer']['state'].values()]
    iters_per_epoch = len(runner.train_dataloader)
    assert all(int(s) == 2 * iters_per_epoch for s in steps)


def test_train_and_test_tools_print_accuracy_and_firing_rate(tiny_clips, tmp_path):
    work_dir = tmp_path / 'work'
    cfg_path = tmp_path / 'tiny_demo.py'
    cfg = tiny_demo_cfg(tiny_clips, work_dir)
    cfg.dump(str(cfg_path))
    ckpt, summary = train_then_test(cfg_path, work_dir, tmp_path)
    assert 'acc/top1=' in summary and 'firing_rate_mean=' in summary
    report = json.loads((work_dir / 'firing_rates.json').read_text())  # the ordered-frame test
    shuffled = run_tool([osp.join(REPO, 'tools', 'test.py'), cfg_path, ckpt, '--work-dir',
                         work_dir, '--shuffle-frames'], tmp_path)
    assert 'mmspike test result (tiny_demo.py) [frames shuffled]: acc/top1=' in shuffled
    assert report['mode'] == 'test'
    rates = {layer['name']: layer['firing_rate'] for layer in report['layers']}
    assert len(rates) == 5   # 2 stages x 2 neurons + the head's neuron
    assert report['firing_rate_mean'] == pytest.approx(sum(rates.values()) / len(rates))
    # recount independently: the checkpoint over the test set, spikes summed by plain hooks
    recount = recount_firing_rates(cfg, ckpt)
    assert recount.keys() == rates.keys()
    for name, rate in rates.items():
        assert rate == pytest.approx(recount[name], rel=1e-9, abs=1e-12), name
    assert 0.0 < report['firing_rate_overall'] < 1.0


def recount_firing_rates(cfg, ckpt):
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    from mmspike.neurons import BaseMultiStepNeuron
    init_default_scope('mmaction')
    runner_free_loader = Runner.build_dataloader(cfg.test_dataloader)
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, ckpt, map_location='cpu')
    counts = {}

    def count(name):
        def hook(module, args, output):
            spikes, total = counts.get(name, (0.0, 0))
            counts[name] = (spikes + float(output.sum()), total + output.numel())
        return hook

    for name, module in model.named_modules():
        if isinstance(module, BaseMultiStepNeuron):
            module.register_forward_hook(count(name))
    with torch.no_grad():
        for batch in runner_free_loader:
            model.test_step(batch)
    return {name: spikes / total for name, (spikes, total) in counts.items()}


def test_model_zoo_config_inheritance_trains(tiny_clips, tmp_path):
    cfg = Config.fromfile(ZOO_CONFIG)
    assert cfg.model.type == 'Recognizer3D'
    assert cfg.model.backbone.type == 'SpikingConvNet'
    point_dataloaders_at(cfg, tiny_clips, batch_size=2)
    train_two_iterations(cfg, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))


def test_spike_reset_hook_resets_every_neuron():
    from mmspike.hooks import SpikeResetHook
    from mmspike.neurons import MultiStepLIF

    class FakeRunner:
        model = torch.nn.Sequential(MultiStepLIF(), torch.nn.Sequential(MultiStepLIF()))

    runner = FakeRunner()
    for neuron in runner.model.modules():
        if isinstance(neuron, MultiStepLIF):
            neuron(torch.ones(2, 3))
            assert neuron.v is not None
    SpikeResetHook().before_train_iter(runner, 0)
    assert all(m.v is None for m in runner.model.modules() if isinstance(m, MultiStepLIF))
