"""mmspike.apis.robustness: the noise step goes before FormatShape of a copy of the test
pipeline, reaches the model inputs of the test set deterministically, bad levels are refused
before anything runs, and the results table."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import REPO, shrink_action_config
from mmspike.apis import robustness

SVFORMER_DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')
FRAMES, SIZE = 8, 32


def test_settings_order():
    assert robustness.settings([0.5], [0.1, 0.2]) == [('clean', 0.0), ('gaussian', 0.5),
                                                       ('salt_pepper', 0.1),
                                                       ('salt_pepper', 0.2)]
    assert robustness.settings([], []) == [('clean', 0.0)]


def test_insert_noise_goes_before_format_shape(tmp_path):
    cfg = Config.fromfile(SVFORMER_DEMO)
    pipeline = cfg.test_dataloader.dataset.pipeline
    noisy = robustness.run_cfg(cfg, 'salt_pepper', 0.2, 7, str(tmp_path))
    steps = [step['type'] for step in noisy.test_dataloader.dataset.pipeline]
    clean = [step['type'] for step in pipeline]
    at = clean.index('FormatShape')
    assert steps == clean[:at] + ['SaltPepperNoise'] + clean[at:]
    assert noisy.test_dataloader.dataset.pipeline[at] == dict(type='SaltPepperNoise', p=0.2,
                                                              seed=7)
    assert noisy.work_dir == str(tmp_path) and noisy.experiment_name == 'salt_pepper_0.2'
    assert [step['type'] for step in pipeline] == clean  # the given config is not changed
    hooks = {hook['type']: hook for hook in noisy.custom_hooks}
    assert hooks['FiringRateHook']['plot'] is False
    assert 'plot' not in [h for h in cfg.custom_hooks if h['type'] == 'FiringRateHook'][0]
    assert robustness.insert_noise(pipeline, 'clean', 0.0) == list(pipeline)
    with pytest.raises(ValueError, match='needs a FormatShape step'):
        robustness.insert_noise([dict(type='DecordInit')], 'gaussian', 0.1)
    with pytest.raises(ValueError, match="noise must be 'gaussian' or 'salt_pepper', got 'blur'"):
        robustness.insert_noise(pipeline, 'blur', 0.1)


def test_bad_levels_are_refused_before_any_run():
    robustness.check_levels(robustness.settings())
    with pytest.raises(ValueError, match='GaussianNoise k must be >= 0, got -1.0'):
        robustness.check_levels(robustness.settings([0.1, -1], []))
    with pytest.raises(ValueError, match=r'SaltPepperNoise p must be >= 0 and <= 1.0, got 2.0'):
        robustness.check_levels(robustness.settings([], [2]))


@pytest.fixture(scope='module')
def tiny_cfg(tmp_path_factory):
    """svformer_demo.py reading 8 x 32 x 32 motion clips (one per class and split)."""
    from mmspike.datasets.synthetic.motion_clips import write_dataset
    clips = str(tmp_path_factory.mktemp('robustness') / 'clips')
    write_dataset(clips, train_per_class=1, val_per_class=1, test_per_class=1,
                  num_frames=FRAMES, size=SIZE, seed=0)
    return shrink_action_config(Config.fromfile(SVFORMER_DEMO), clips, FRAMES, SIZE), clips


def test_noise_reaches_the_model_inputs_of_the_test_set(tiny_cfg):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    cfg, root = tiny_cfg
    init_default_scope('mmaction')

    def inputs(noise, level, seed=0):
        dataset = DATASETS.build(
            robustness.run_cfg(cfg, noise, level, seed, str(root)).test_dataloader.dataset)
        return [dataset[i]['inputs'] for i in range(2)]

    clean = inputs('clean', 0.0)
    assert clean[0].dtype == torch.uint8 and clean[0].shape[-3:] == (FRAMES, SIZE, SIZE)
    for noise, level in (('gaussian', 0.5), ('salt_pepper', 0.1)):
        noisy, again = inputs(noise, level), inputs(noise, level)
        for c, n, a in zip(clean, noisy, again):
            assert n.shape == c.shape and n.dtype == c.dtype
            assert torch.equal(n, a)  # a rerun sees the same noisy clips
            assert (n != c).float().mean() > (0.5 if noise == 'gaussian' else 0.05)
        assert not torch.equal(noisy[0], noisy[1])
    sp = inputs('salt_pepper', 0.1)[0]
    changed = sp != clean[0]
    assert torch.all((sp[changed] == 0) | (sp[changed] == 255))
    # At most p of the values change (a pixel already black or white may stay as it was).
    assert 0.02 < changed.float().mean() <= 0.1 + 0.02


def test_rows_and_table():
    def metrics(top1, top5, energy=None):
        found = {'acc/top1': top1, 'acc/top5': top5}
        if energy is not None:
            found['energy/mJ_per_sample'] = energy
        return found

    rows = robustness.make_rows([('clean', 0.0, metrics(0.75, 1.0, 0.5)),
                                 ('gaussian', 0.3, metrics(0.5, 0.875, 0.25))])
    assert rows[1] == dict(noise='gaussian', level=0.3, top1=50.0, top5=87.5, drop=25.0,
                           energy_mj=0.25)
    lines = robustness.format_table(rows).splitlines()
    assert lines[0].split() == ['noise', 'level', 'top-1', '%', 'top-5', '%', 'drop', 'mJ/clip']
    assert lines[3].split() == ['gaussian', '0.3', '50.00', '87.50', '25.00', '0.2500']
    assert 'mJ/clip' not in robustness.format_table(robustness.make_rows(
        [('clean', 0.0, metrics(0.75, 1.0))]))
    with pytest.raises(ValueError, match='the first result must be the clean run'):
        robustness.make_rows([('gaussian', 0.3, metrics(0.5, 0.875))])
    with pytest.raises(KeyError, match=r"no 'top1' accuracy \(AccMetric\); got \['mIoU'\]"):
        robustness.metric({'mIoU': 0.5}, 'top1')
