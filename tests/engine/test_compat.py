"""The version-gated repairs of upstream bugs (:mod:`mmspike.engine.compat`): applied by the
task adapters and tools, never by ``import mmspike``; each one still does its job."""
import subprocess
import sys

import pytest
import torch

from mmspike.engine import compat


def _run(code):
    return subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()


@pytest.fixture(autouse=True, scope='module')
def repairs_applied():
    """The tests below check the repairs as the tools apply them."""
    compat.apply()


ALL_RUNNER_REPAIRS = [r.name for r in compat.RUNNER_REPAIRS]


def test_import_mmspike_applies_no_repair():
    out = _run('import mmspike\n'
               'from mmengine.runner.checkpoint import CheckpointLoader\n'
               'from mmspike.engine import compat\n'
               'print(compat.applied())\n'
               "print(CheckpointLoader._schemes[''] is compat.load_from_local_safe)")
    assert out[-2:] == ['[]', 'False']


@pytest.mark.parametrize('adapter', ['mmspike.action', 'mmspike.pose', 'mmspike.seg'])
def test_adapters_apply_the_repairs_this_environment_needs(adapter):
    out = _run(f'import {adapter}\nfrom mmspike.engine import compat\nprint(compat.applied())')
    # this environment pins mmengine 0.10.7 and torch >= 2.6 on a machine without CUDA
    expected = [r.name for r in compat.RUNNER_REPAIRS if r.needed()]
    assert out[-1] == str(expected)
    assert expected == ALL_RUNNER_REPAIRS or torch.cuda.is_available()


def test_repairs_are_gated_on_the_versions_that_need_them():
    """With an mmengine that is not known to have the bugs, apply() repairs nothing."""
    out = _run('import mmspike.engine.compat as compat\n'
               'real = compat.installed_version\n'
               "compat.installed_version = lambda d: '0.10.8' if d == 'mmengine' else real(d)\n"
               'print(compat.apply())\n'
               'from mmengine.runner.checkpoint import CheckpointLoader\n'
               "print(CheckpointLoader._schemes[''] is compat.load_from_local_safe)")
    assert out[-2:] == ['[]', 'False']


def test_apply_is_idempotent():
    first = compat.apply()
    assert compat.apply() == first
    import mmengine.runner.checkpoint as checkpoint_module
    wrapper = checkpoint_module.save_checkpoint
    compat.repair_mmengine_checkpoint_saving()
    assert checkpoint_module.save_checkpoint is wrapper


def test_mmaction_drn_placeholder_lives_in_memory():
    if not compat.mmaction_lacks_drn():
        pytest.skip('the installed mmaction2 ships its own localizers/drn; no placeholder needed')
    out = _run('import mmspike.action\n'
               'from mmaction.registry import MODELS\n'
               'import mmaction.models\n'
               'try:\n'
               "    MODELS.build(dict(type='DRN'))\n"
               'except ImportError as e:\n'
               "    print('ImportError', 'mmaction2#2714' in str(e))\n"
               'from mmspike.engine import compat\n'
               'print(compat.mmaction_lacks_drn())')
    # DRN raises a clear error, and nothing was written into the installed mmaction2
    assert out[-2:] == ['ImportError True', 'True']


def test_mmengine_checkpoint_repairs_are_registered():
    """mmengine loads local files (and URL downloads) through mmspike's safe loader and saves
    through its atomic writer; no full-pickle loader is left in compat."""
    import mmengine.runner as runner_package
    import mmengine.runner.checkpoint as checkpoint_module
    import mmengine.runner.runner as runner_module
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmspike.engine import compat
    assert compat.mmengine_needs_weights_only_repair(), (
        'this environment pins mmengine 0.10.7 with torch >= 2.6; if that changed, revisit '
        'mmspike.engine.compat.repair_mmengine_checkpoint_loading')
    assert CheckpointLoader._schemes[''] is compat.load_from_local_safe
    assert checkpoint_module.load_url is compat.load_url_checkpoint_safe
    assert not hasattr(compat, 'load_local_checkpoint_full')
    for module in (checkpoint_module, runner_module, runner_package):
        assert module.save_checkpoint.__wrapped_by_mmspike__ is not None, module


def test_mmengine_loads_runner_checkpoints_weights_only(tmp_path, monkeypatch):
    """The safe loader calls torch.load with weights_only=True (never False) unless opted out."""
    from mmengine.runner.checkpoint import _load_checkpoint
    calls = []
    load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return load(*args, **kwargs)

    path = tmp_path / 'w.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}}, path)
    monkeypatch.setattr(torch, 'load', spy)
    assert torch.equal(_load_checkpoint(str(path))['state_dict']['w'], torch.ones(1))
    assert calls == [True]


def test_missing_checkpoint_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(missing))


def test_package_config_path_repair():
    from mmspike.engine.compat import package_and_cfg_path
    assert package_and_cfg_path('mmspike::svformer_demo.py') == ('mmspike', 'svformer_demo.py')
    assert package_and_cfg_path('mmdet::faster_rcnn/x.py') == ('mmdet', 'faster_rcnn/x.py')
    for bad in ('svformer_demo.py', 'mmspike::', '::x.py', 'a b::x.py'):
        with pytest.raises(ValueError, match='expected a config path like'):
            package_and_cfg_path(bad)


def test_configs_of_an_editable_install_are_found(tmp_path):
    """mmengine looks for a package's configs at its distribution's location, which for an
    editable install through an import hook is site-packages; the repair falls back to the
    folder the package is imported from."""
    import os.path as osp

    import mmspike
    missing = str(tmp_path / 'site-packages' / 'mmspike')
    assert compat.installed_package_path('mmspike', lambda package: missing) == \
        osp.dirname(mmspike.__file__)
    present = str(tmp_path)
    assert compat.installed_package_path('mmspike', lambda package: present) == present
