"""tools/make_demo_dataset.py: which embedded datasets it writes, where, and its errors."""
import glob
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

from helpers import REPO

TOOL = osp.join(REPO, 'tools', 'make_demo_dataset.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('make_demo_dataset_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_datasets():
    """``{root: embedded_dataset}`` of every demo config, read from the configs directly."""
    datasets = {}
    for path in glob.glob(osp.join(REPO, 'configs', '*_demo*.py')):
        spec = Config.fromfile(path, import_custom_modules=False).get('embedded_dataset')
        if spec:
            datasets[spec['root']] = spec.to_dict()
    return datasets


@pytest.fixture
def written(monkeypatch, tmp_path):
    """Run the tool in ``tmp_path`` with the generators replaced by a recorder."""
    import mmspike.datasets.synthetic as synthetic
    calls = []
    monkeypatch.setattr(synthetic, 'prepare_embedded_dataset',
                        lambda cfg: calls.append(dict(cfg['embedded_dataset'])))
    monkeypatch.chdir(tmp_path)
    return calls


def test_default_writes_every_demo_dataset(written, capsys):
    load_tool().main([])
    expected = demo_datasets()
    from mmspike.datasets.synthetic import GENERATORS
    assert {spec.get('generator', 'motion_clips') for spec in expected.values()} == \
        set(GENERATORS), 'a generator no demo config uses, or a demo config without a dataset'
    assert sorted(written, key=lambda s: s['root']) == \
        sorted(expected.values(), key=lambda s: s['root'])
    out = capsys.readouterr().out
    assert f'{len(expected)} dataset(s)' in out and 'svformer_demo.py' in out


def test_named_configs_and_options(written, tmp_path):
    user_cfg = tmp_path / 'mine.py'
    user_cfg.write_text("_base_ = 'mmspike::svformer_demo_events.py'\n")
    load_tool().main(['svformer_demo', str(user_cfg), '--cfg-options',
                      'embedded_dataset.seed=3'])
    assert [(s['root'], s.get('generator', 'motion_clips'), s['seed']) for s in written] == [
        ('data/motion_clips', 'motion_clips', 3), ('data/motion_events', 'motion_events', 3)]


def test_dry_run_writes_nothing(written, capsys):
    load_tool().main(['spikevideoformer_pose_demo.py', '--dry-run'])
    assert written == []
    assert '[1/1] data/pose_clips (pose_clips) for spikevideoformer_pose_demo.py' in \
        capsys.readouterr().out


@pytest.mark.parametrize('args,message', [
    (['svformer_ucf101.py'], 'svformer_ucf101.py has no embedded_dataset'),
    (['no_such_config'], "config 'no_such_config' is neither a file nor a shipped config"),
    (['svformer_demo.py', 'svformer_demo_events.py', '--cfg-options',
      'embedded_dataset.root=data/same'], 'ask for different datasets in'),
])
def test_errors_name_the_problem(written, args, message):
    with pytest.raises(SystemExit) as error:
        load_tool().main(args)
    assert message in str(error.value)
    assert written == []


def test_writes_a_small_dataset_under_the_current_directory(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    load_tool().main(['svformer_demo.py', '--cfg-options', 'embedded_dataset.train_per_class=1',
                      'embedded_dataset.val_per_class=1', 'embedded_dataset.test_per_class=1'])
    assert (tmp_path / 'data' / 'motion_clips' / 'meta.json').is_file()
    assert len(list((tmp_path / 'data' / 'motion_clips' / 'videos').glob('*/*.mp4'))) == 3 * 8
    assert 'make_demo_dataset: done' in capsys.readouterr().out
