"""mmspike as an installed OpenMMLab package: configs resolve as ``mmspike::`` from anywhere."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmspike

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_configs_ship_with_the_package():
    mim_configs = osp.join(osp.dirname(mmspike.__file__), '.mim', 'configs')
    assert osp.isfile(osp.join(mim_configs, 'svformer_demo.py')), (
        'mmspike/.mim/configs is made by `pip install` of the package (setup.py); '
        'tools/setup_env.sh installs it')
    assert osp.isfile(osp.join(mim_configs, '_base_', 'runtime_mmaction.py'))


def test_a_config_elsewhere_inherits_an_mmspike_config(tmp_path):
    from mmspike.engine import compat
    compat.apply()  # as tools/train.py does: ``mmspike::file.py`` needs the config-path repair
    user_cfg = tmp_path / 'elsewhere' / 'my_svformer.py'
    user_cfg.parent.mkdir()
    user_cfg.write_text("_base_ = 'mmspike::svformer_demo.py'\n"
                        "model = dict(backbone=dict(with_cp=True), cls_head=dict(num_classes=5))\n"
                        "train_cfg = dict(max_epochs=3)\n")
    cfg = Config.fromfile(str(user_cfg))
    assert cfg.default_scope == 'mmaction'
    assert cfg.custom_imports.imports == ['mmspike', 'mmspike.action']
    assert cfg.train_cfg.max_epochs == 3
    # everything not overridden comes from the shipped config and its bases
    ours = Config.fromfile(osp.join(REPO, 'configs', 'svformer_demo.py'))
    assert cfg.train_dataloader.dataset.pipeline == ours.train_dataloader.dataset.pipeline
    assert cfg.custom_hooks == ours.custom_hooks
    from mmaction.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
        reference = MODELS.build(ours.model)
    assert type(model.backbone).__name__ == 'SVFormer' and model.backbone.with_cp
    assert model.cls_head.fc_cls.out_features == 5
    assert model.backbone.num_frames == 16
    # same backbone as the shipped config: the same parameter names and shapes
    assert {k: v.shape for k, v in model.backbone.state_dict().items()} == \
        {k: v.shape for k, v in reference.backbone.state_dict().items()}


@pytest.mark.parametrize('codebase,visualizer', [('mmaction', 'ActionVisualizer'),
                                                 ('mmpose', 'PoseLocalVisualizer'),
                                                 ('mmseg', 'SegLocalVisualizer')])
def test_one_runtime_base_per_codebase(codebase, visualizer, tmp_path):
    import importlib
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', f'runtime_{codebase}.py'))
    assert cfg.default_scope == codebase
    assert cfg.visualizer.type == visualizer
    assert 'mmspike' in cfg.custom_imports.imports
    # the hooks every runtime shares build in that codebase's scope
    registry = importlib.import_module(f'{codebase}.registry')
    with DefaultScope.overwrite_default_scope(codebase):
        hooks = [registry.HOOKS.build(h) for h in cfg.custom_hooks]
        vis = registry.VISUALIZERS.build(dict(cfg.visualizer, save_dir=str(tmp_path),
                                              name=f'test_{codebase}'))
    assert [type(h).__name__ for h in hooks] == ['SpikeResetHook', 'FiringRateHook']
    assert type(vis).__name__ == visualizer


def test_model_index_lists_every_config_with_its_parameter_count():
    import glob

    from mmengine.fileio import load
    index = load(osp.join(REPO, 'model-index.yml'))
    models = [m for path in index['Import'] for m in load(osp.join(REPO, path))['Models']]
    listed = {m['Config'] for m in models}
    shipped = {osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*.py'))}
    shipped.discard('configs/spiking_convnet_c3d-zoo_ucf101.py')  # inherits the MMAction2 zoo
    assert listed == shipped
    import importlib
    for model in models:
        expected = model.get('Metadata', {}).get('Parameters')
        if expected is None:
            continue
        cfg = Config.fromfile(osp.join(REPO, model['Config']))  # imports its custom_imports
        registry = importlib.import_module(f'{cfg.default_scope}.registry')
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            built = registry.MODELS.build(cfg.model)
        assert sum(p.numel() for p in built.parameters()) == expected, model['Name']


# ---- the wheel: what ``pip install .`` puts in site-packages, used through mim -----------------
# One wheel is built from a copy of the source tree (building in the tree would write build/ and
# mmspike.egg-info there) and installed with ``pip install --target``; with that folder first on
# PYTHONPATH, ``import mmspike`` and pkg_resources (which mim and mmengine ask where a package is)
# find the wheel's copy before the development install.
SOURCE_PATHS = ('setup.py', 'MANIFEST.in', 'README.md', 'pyproject.toml', 'model-index.yml',
                'requirements', 'configs', 'tools', 'demo', 'mmspike')


def require_mim():
    import importlib.util
    if importlib.util.find_spec('mim') is None:
        pytest.fail('openmim is not installed: pip install "openmim>=0.3.9,<0.4" (it is in the '
                    '`tests` extra); the wheel tests run `mim search/run/train mmspike`')


@pytest.fixture(scope='module')
def wheel_site(tmp_path_factory):
    """``(wheel, site)``: the built wheel and the folder it is installed in."""
    import shutil
    import subprocess
    import sys
    root = tmp_path_factory.mktemp('wheel')
    source = root / 'source'
    source.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for name in SOURCE_PATHS:
        path = osp.join(REPO, name)
        if osp.isdir(path):
            shutil.copytree(path, source / name, ignore=ignore)
        elif osp.isfile(path):
            shutil.copyfile(path, source / name)
    pip = [sys.executable, '-m', 'pip', '-q', '--disable-pip-version-check']
    for args in (['wheel', '--no-deps', '--no-build-isolation', '-w', str(root / 'dist'),
                  str(source)],
                 ['install', '--no-deps', '--no-compile', '--target', str(root / 'site')]):
        if args[0] == 'install':
            args.append(str(next((root / 'dist').glob('mmspike-*.whl'))))
        result = subprocess.run(pip + args, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return next((root / 'dist').glob('mmspike-*.whl')), root / 'site'


def run_in_wheel_env(args, site, cwd, **env):
    """Run ``python args...`` with the wheel's folder first on PYTHONPATH; return the result."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONUNBUFFERED='1', **env)
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), env=env,
                          capture_output=True, text=True)


def test_the_wheel_ships_configs_tools_and_model_index(wheel_site):
    import glob
    import zipfile
    wheel, _ = wheel_site
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {'mmspike/.mim/model-index.yml', 'mmspike/ops/csrc/neuron_cpu.cpp'}
    for folder, patterns in (('configs', ('*.py', '*.yml')), ('tools', ('*.py', '*.sh')),
                             ('demo', ('*.py',))):
        for pattern in patterns:
            for path in glob.glob(osp.join(REPO, folder, '**', pattern), recursive=True):
                expected.add('mmspike/.mim/' + osp.relpath(path, REPO).replace(osp.sep, '/'))
    assert 'mmspike/.mim/configs/_base_/runtime_mmaction.py' in expected
    assert sorted(expected - names) == []
    assert [n for n in names if '__pycache__' in n or n.endswith('.pyc')] == []


def test_mim_search_lists_the_model_index(wheel_site, tmp_path):
    require_mim()
    from mmengine.fileio import load
    result = run_in_wheel_env(['-m', 'mim', 'search', 'mmspike'], wheel_site[1], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    names = [m['Name'] for m in load(osp.join(REPO, 'configs', 'metafile.yml'))['Models']]
    listed = [line.split(':', 1)[1].strip() for line in result.stdout.splitlines()
              if line.startswith('config id:')]
    assert sorted(listed) == sorted(names)


PARSE = """
import json, sys
from mmengine.config import Config
out = {}
try:
    Config.fromfile('my_svformer.py')
except Exception as error:  # stock mmengine: what a codebase's own tools/train.py meets
    out['stock'] = f'{type(error).__name__}: {error}'
from mmspike.engine import compat
compat.apply()
cfg = Config.fromfile('my_svformer.py')
import mmspike
out.update(package=mmspike.__file__, max_epochs=cfg.train_cfg.max_epochs,
           backbone=cfg.model.backbone.type, root=cfg.embedded_dataset.root)
print(json.dumps(out))
"""
USER_CONFIG = "_base_ = 'mmspike::svformer_demo.py'\ntrain_cfg = dict(max_epochs=1)\n"


def test_a_config_elsewhere_inherits_from_the_wheel(wheel_site, tmp_path):
    import json
    (tmp_path / 'my_svformer.py').write_text(USER_CONFIG)
    result = run_in_wheel_env(['-c', PARSE], wheel_site[1], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out['package'].startswith(str(wheel_site[1]))
    assert (out['max_epochs'], out['backbone'], out['root']) == (1, 'SVFormer',
                                                                 'data/motion_clips')
    # stock mmengine 0.10.7 resolves `pkg::` only for the packages it lists; README and
    # docs/usage.md say so and name `mim train mmspike` (mmspike's tools/train.py) instead
    assert 'stock' in out, 'stock mmengine now resolves mmspike:: configs: update README'
    assert 'please specify the package name and relative config path' in out['stock']


def test_mim_run_make_demo_dataset_and_mim_train_from_elsewhere(wheel_site, tmp_path):
    """The installed make_demo_dataset finds the installed demo configs and their datasets
    (tests/tools/test_make_demo_dataset.py writes them); the installed train tool writes the
    embedded dataset under the current directory and trains a user config that inherits
    ``mmspike::svformer_demo.py`` (2 iterations)."""
    require_mim()
    site = wheel_site[1]
    listed = run_in_wheel_env(['-m', 'mim', 'run', 'mmspike', 'make_demo_dataset', '--dry-run'],
                              site, tmp_path)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    assert str(site / 'mmspike' / '.mim' / 'tools' / 'make_demo_dataset.py') in listed.stdout
    assert f'4 dataset(s) for 7 config(s), under {osp.realpath(tmp_path)}' in listed.stdout
    for root in ('motion_clips', 'motion_events', 'pose_clips', 'seg_clips'):
        assert f'data/{root} ({root})' in listed.stdout
    small = ['--cfg-options', 'embedded_dataset.train_per_class=1',
             'embedded_dataset.val_per_class=1', 'embedded_dataset.test_per_class=1']
    (tmp_path / 'my_svformer.py').write_text(USER_CONFIG)
    # MMSPIKE_NEURON_KERNELS=0: the wheel's copy would otherwise compile its own fused kernels
    trained = run_in_wheel_env(['-m', 'mim', 'train', 'mmspike', 'my_svformer.py',
                                '--no-validate'] + small + ['train_dataloader.batch_size=4'],
                               site, tmp_path, MMSPIKE_NEURON_KERNELS='0')
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-3000:]
    assert str(site / 'mmspike' / '.mim' / 'tools' / 'train.py') in log
    assert 'wrote 24 clips to data/motion_clips' in log  # 1 + 1 + 1 per class, under tmp_path
    assert 'Epoch(train) [1][2/2]' in log
    assert (tmp_path / 'work_dirs' / 'my_svformer' / 'epoch_1.pth').is_file()
