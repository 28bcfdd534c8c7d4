"""The version-gated repairs of upstream bugs (:mod:`mmspike.engine.compat`): applied by the
task adapters and tools, never by ``import mmspike``; each one still does its job."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmspike.engine import compat
from mmspike.engine.checkpoint import UnsafeCheckpointError


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


# --- every checkpoint scheme of mmengine loads through mmspike's safe loader -----------------


def write_marker(path):
    """What the malicious checkpoints below call when unpickled: proof that code in them ran."""
    with open(path, 'w') as f:
        f.write('code from a checkpoint ran')
    return {}


class _WritesMarker:
    """Pickles as ``write_marker(path)`` - a checkpoint that runs code when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return write_marker, (self.marker, )


#: a URI of each scheme prefix mmengine 0.10.7 registers; ``{}`` is the model's name
SCHEME_URIS = {
    '': '{store}/{}.pth',
    'http://': 'http://download.example.invalid/{}.pth',
    'https://': 'https://download.example.invalid/{}.pth',
    'pavi://': 'pavi://models/{}.pth',
    r'(\S+\:)?s3://': 's3://bucket/{}.pth',
    r'(\S+\:)?petrel://': 'cluster1:petrel://bucket/{}.pth',
    'modelzoo://': 'modelzoo://{}',
    'torchvision://': 'torchvision://{}',
    'open-mmlab://': 'open-mmlab://{}',
    'openmmlab://': 'openmmlab://{}',
    'mmcls://': 'mmcls://{}',
}


def test_every_mmengine_checkpoint_scheme_has_a_safe_loader():
    """Every prefix in mmengine's CheckpointLoader maps to mmspike's loader for it; a scheme a
    new mmengine adds fails here until it has one."""
    from mmengine.runner.checkpoint import CheckpointLoader
    assert sorted(CheckpointLoader._schemes) == sorted(SCHEME_URIS)
    assert sorted(compat.SAFE_SCHEME_LOADERS) == sorted(SCHEME_URIS)
    for prefix, loader in CheckpointLoader._schemes.items():
        assert loader is compat.SAFE_SCHEME_LOADERS[prefix], (prefix, loader)
        assert loader.__module__ == 'mmspike.engine.compat', (prefix, loader)
    compat.repair_mmengine_checkpoint_loading()  # idempotent
    assert dict(CheckpointLoader._schemes) == compat.SAFE_SCHEME_LOADERS


@pytest.fixture
def scheme_routes(tmp_path, monkeypatch):
    """Each scheme's resolution pointed at local files, no network and no pavi / petrel client:
    ``store/<name>.pth`` is what ``<scheme>://<name>`` reads.  Writes ``evil.pth`` (calls
    :func:`write_marker`) and ``good.pth`` (what a runner saves: message hub history, numpy
    RNG state) and sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which makes a bare
    ``torch.load`` a full pickle.  Returns ``(store, marker)``."""
    import shutil
    import types

    import numpy as np
    import torch.hub
    from mmengine.fileio.backends.petrel_backend import PetrelBackend
    from mmengine.logging import HistoryBuffer

    import mmengine.runner.checkpoint as checkpoint_module
    store, marker = tmp_path / 'store', tmp_path / 'code_ran'
    store.mkdir()
    torch.save({'state_dict': {'backbone.w': torch.ones(2)}, 'x': _WritesMarker(marker)},
               store / 'evil.pth')
    torch.save({'meta': {'iter': 1}, 'state_dict': {'backbone.w': torch.ones(2)},
                'message_hub': {'log_scalars': {'loss': HistoryBuffer([0.5], [1])}},
                'rng_state': np.random.RandomState(0).get_state()}, store / 'good.pth')

    def stored(uri):
        return store / uri.rsplit('/', 1)[-1]

    home = tmp_path / 'mmengine_home'
    home.mkdir()
    (home / 'open_mmlab.json').write_text(json.dumps(
        {name: str(store / f'{name}.pth') for name in ('evil', 'good')}))
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda url, dst, *args, **kwargs: shutil.copy(stored(url), dst))
    urls = {name: f'https://download.example.invalid/{name}.pth' for name in ('evil', 'good')}
    monkeypatch.setattr(checkpoint_module, 'get_torchvision_models', lambda: dict(urls))
    monkeypatch.setattr(checkpoint_module, 'get_mmcls_models', lambda: dict(urls))
    model = types.SimpleNamespace

    def get_model(path):
        return model(name=osp.basename(path),
                     download=lambda dst: shutil.copy(store / osp.basename(path), dst))

    monkeypatch.setitem(sys.modules, 'pavi', types.SimpleNamespace(
        modelcloud=types.SimpleNamespace(get=get_model)))
    monkeypatch.setattr(PetrelBackend, '__init__', lambda self, **kwargs: None)
    monkeypatch.setattr(PetrelBackend, 'get', lambda self, uri: stored(uri).read_bytes())
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return store, marker


@pytest.mark.parametrize('prefix', sorted(SCHEME_URIS),
                         ids=lambda prefix: prefix.replace(r'(\S+\:)?', '') or 'local')
def test_every_scheme_refuses_a_malicious_checkpoint(prefix, scheme_routes):
    """Under TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, ``<scheme>://evil`` is refused before any of
    its pickle runs, and ``<scheme>://good`` (a runner-style checkpoint) loads."""
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    store, marker = scheme_routes
    evil, good = (SCHEME_URIS[prefix].format(name, store=store) for name in ('evil', 'good'))
    assert CheckpointLoader._get_checkpoint_loader(evil) is compat.SAFE_SCHEME_LOADERS[prefix]
    with pytest.raises(UnsafeCheckpointError) as info:
        _load_checkpoint(evil, map_location='cpu')
    assert 'write_marker' in str(info.value) and 'evil' in str(info.value), str(info.value)
    assert not marker.exists()
    loaded = _load_checkpoint(good, map_location='cpu')
    if prefix == 'mmcls://':  # mmengine keeps the backbone's weights, without the prefix
        assert list(loaded) == ['state_dict'] and list(loaded['state_dict']) == ['w']
    else:
        assert loaded['meta']['iter'] == 1 and loaded['message_hub']['log_scalars']['loss']
    assert not marker.exists()


def test_open_mmlab_local_checkpoint_is_loaded_safely(scheme_routes, tmp_path):
    """``open-mmlab://NAME`` mapped by ``$MMENGINE_HOME/open_mmlab.json`` to a local file:
    mmengine's own loader runs the file's code under TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (the
    control at the end), mmspike's refuses it; names relative to the mmengine home resolve."""
    import shutil

    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.runner.checkpoint import _load_checkpoint
    store, marker = scheme_routes
    home = tmp_path / 'mmengine_home'
    shutil.copy(store / 'good.pth', home / 'relative.pth')
    mapping = json.loads((home / 'open_mmlab.json').read_text())
    mapping['relative'] = 'relative.pth'
    (home / 'open_mmlab.json').write_text(json.dumps(mapping))
    with pytest.raises(UnsafeCheckpointError, match=str(store / 'evil.pth')):
        _load_checkpoint('open-mmlab://evil')
    assert not marker.exists()
    assert _load_checkpoint('openmmlab://relative')['meta']['iter'] == 1
    with pytest.raises(KeyError, match="no model named 'missing' in mmengine's hub"):
        _load_checkpoint('open-mmlab://missing')
    with pytest.warns(UserWarning, match='forcing weights_only=False'):
        checkpoint_module.load_from_openmmlab('open-mmlab://evil')  # mmengine's, unregistered
    assert marker.exists()


# --- best checkpoints and orphan temporaries ----------------------------------------------


class _FakeRunner:
    """What CheckpointHook's best-checkpoint and before_train code use of a Runner."""

    def __init__(self, work_dir, iteration, events):
        import logging

        from mmengine.logging import MessageHub
        self.work_dir, self.iter, self.epoch, self.events = str(work_dir), iteration, 0, events
        self.message_hub = MessageHub(f'best_{id(self)}')
        self.logger = logging.getLogger('mmspike.test_compat')

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        # which best checkpoints exist while the new one is written
        self.events.append(sorted(p for p in os.listdir(out_dir) if p.startswith('best_')))
        with open(osp.join(out_dir, filename), 'wb') as f:
            f.write(b'checkpoint')


def test_previous_best_checkpoint_is_removed_after_the_new_one_is_written(tmp_path):
    from mmengine.hooks import CheckpointHook
    hook = CheckpointHook(by_epoch=False, save_best='count', rule='greater')
    events = []
    runner = _FakeRunner(tmp_path, 1, events)
    hook.before_train(runner)
    hook._save_best_checkpoint(runner, {'count': 1})
    runner.iter = 2
    hook._save_best_checkpoint(runner, {'count': 2})
    # mmengine removed best_count_iter_1.pth before writing best_count_iter_2.pth
    assert events == [[], ['best_count_iter_1.pth']], events
    assert sorted(os.listdir(tmp_path)) == ['best_count_iter_2.pth']
    # a better score at the same iteration overwrites the best file: it is not removed after
    hook._save_best_checkpoint(runner, {'count': 3})
    assert sorted(os.listdir(tmp_path)) == ['best_count_iter_2.pth']


def test_before_train_removes_only_mmspike_temporaries(tmp_path):
    from mmengine.hooks import CheckpointHook
    orphans = ['.iter_5.pth.k2j4h1.tmp', '.best_acc_epoch_3.pth.abc.tmp',
               '.last_checkpoint.x1y2.tmp']
    kept = ['iter_4.pth', 'last_checkpoint', '.notes.tmp', 'iter_5.pth.tmp', '.data.tmp.pth']
    for name in orphans + kept:
        (tmp_path / name).write_bytes(b'x')
    CheckpointHook(by_epoch=False).before_train(_FakeRunner(tmp_path, 0, []))
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
