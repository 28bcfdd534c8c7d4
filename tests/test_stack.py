"""The set-up environment: OpenMMLab imports, compiled mmcv ops, lazy imports, upstream repairs."""
import importlib
import subprocess
import sys

import pytest
import torch


@pytest.mark.parametrize('name', ['mmaction.models', 'mmpose.models', 'mmseg.models',
                                  'mmdet.models', 'mmcv.ops'])
def test_openmmlab_imports(name):
    importlib.import_module(name)


def test_mmcv_ops_are_compiled():
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = roi_align(feats, rois, (1, 1), 1.0, 0, 'avg', True)
    assert out.shape == (1, 1, 1, 1)


def test_importing_mmspike_imports_no_task_codebase():
    """The core imports no task codebase; each adapter imports its own codebase and no other
    task's (MMAction2's and MMPose's models themselves import MMDetection)."""
    code = ('import sys, {module}; '
            'print(sorted({{m.split(".")[0] for m in sys.modules}} & '
            '{{"mmaction", "mmpose", "mmseg", "mmdet"}}))')
    for module, expected in (('mmspike', '[]'), ('mmspike.action', "['mmaction', 'mmdet']"),
                             ('mmspike.pose', "['mmdet', 'mmpose']")):
        out = subprocess.run([sys.executable, '-c', code.format(module=module)], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        assert out == expected, (module, out)


def test_mmaction_drn_repair():
    from mmspike.engine import compat
    status = compat.drn_status()
    assert status in ('ok', 'placeholder')
    if status == 'ok':
        pytest.skip('mmaction2 ships its own localizers/drn here; the placeholder is not used')
    from mmaction.registry import MODELS
    import mmaction.models  # noqa: F401
    with pytest.raises(ImportError, match='mmaction2#2714'):
        MODELS.build(dict(type='DRN'))
    # idempotent: a second install changes nothing
    assert compat.install_mmaction_drn_placeholder() == 'placeholder'


def test_mmengine_checkpoint_repairs_are_registered():
    """mmengine loads local files (and URL downloads) through mmspike's safe loader and saves
    through its atomic writer; the full-pickle loader of earlier versions is gone."""
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
