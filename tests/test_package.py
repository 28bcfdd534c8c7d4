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
