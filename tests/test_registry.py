"""Where names resolve: the core from every codebase's scope, task heads in their codebase."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

import mmspike  # noqa: F401
from mmspike.backbones import SpikeVideoFormer, SpikingConvNet, SVFormer
from mmspike.evaluation import SpikeEnergyMetric
from mmspike.hooks import FiringRateHook, SpikeResetHook
from mmspike.necks import TemporalNeck

SCOPES = ['mmaction', 'mmpose', 'mmseg']


@pytest.mark.parametrize('scope', SCOPES)
def test_core_models_resolve_unscoped_to_mmspike_classes(scope):
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        built = {
            SpikingConvNet: registry.MODELS.build(dict(type='SpikingConvNet', arch='tiny')),
            SVFormer: registry.MODELS.build(dict(type='SVFormer', arch='tiny', num_frames=2,
                                                 img_size=32)).eval(),
            SpikeVideoFormer: registry.MODELS.build(dict(type='SpikeVideoFormer', arch='tiny',
                                                         out_indices=(0, 1, 2, 3))),
            TemporalNeck: registry.MODELS.build(dict(type='TemporalNeck', mode='mean')),
        }
        # the registry's entry is mmspike's class, not a codebase class of the same name
        for cls in built:
            assert registry.MODELS.get(cls.__name__) is cls
    for cls, obj in built.items():
        assert type(obj) is cls
    x = torch.randn(1, 3, 2, 32, 32)
    maps = built[SpikeVideoFormer](x)
    assert [m.shape[2] for m in maps] == [16, 32, 64, 96]
    assert built[TemporalNeck](maps)[3].shape == (1, 96, 2, 2)
    assert built[SVFormer](x)[0].shape == (2, 1, 256, 1, 1)


@pytest.mark.parametrize('scope', SCOPES)
def test_hooks_and_energy_metric_resolve_unscoped(scope):
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        assert type(registry.HOOKS.build(dict(type='SpikeResetHook'))) is SpikeResetHook
        hook = registry.HOOKS.build(dict(type='FiringRateHook', enabled=False))
        metric = registry.METRICS.build(dict(type='SpikeEnergyMetric', preset='int8'))
    assert type(hook) is FiringRateHook and hook.enabled is False
    assert type(metric) is SpikeEnergyMetric and (metric.e_mac_pj, metric.e_ac_pj) == (0.23, 0.03)


def test_action_heads_live_in_mmaction_and_subclass_its_base_head():
    import mmspike.action  # noqa: F401
    from mmaction.models.heads import BaseHead
    from mmaction.registry import MODELS

    from mmspike.heads.action import SpikingClsHead, SVFormerHead
    for cls in (SpikingClsHead, SVFormerHead):
        assert MODELS.get(cls.__name__) is cls and issubclass(cls, BaseHead)
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(dict(
            type='Recognizer3D', backbone=dict(type='SpikingConvNet', arch='tiny'),
            cls_head=dict(type='SpikingClsHead', num_classes=5, in_channels=64)))
    assert type(model.backbone) is SpikingConvNet and type(model.cls_head) is SpikingClsHead
    feats = model(torch.randn(2, 1, 3, 4, 16, 16), mode='tensor')  # backbone maps
    assert model.cls_head(feats).shape == (2, 5)
    # an action head is not a pose model: it does not leak into other codebases' registries
    from mmpose.registry import MODELS as POSE_MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        with pytest.raises(KeyError, match='SpikingClsHead'):
            POSE_MODELS.build(dict(type='SpikingClsHead', num_classes=3, in_channels=8))


def test_pose_adapter_registers_its_dataset_transforms_and_metric_in_mmpose():
    import mmspike.pose  # noqa: F401
    from mmpose.registry import DATASETS, METRICS, TRANSFORMS

    from mmspike.datasets.pose import LoadClipFrames, MMHPSDClipDataset, PackClipPoseInputs
    from mmspike.evaluation.pose import VideoPose3DMetric
    assert DATASETS.get('MMHPSDClipDataset') is MMHPSDClipDataset
    assert TRANSFORMS.get('LoadClipFrames') is LoadClipFrames
    assert TRANSFORMS.get('PackClipPoseInputs') is PackClipPoseInputs
    assert METRICS.get('VideoPose3DMetric') is VideoPose3DMetric
    # pose parts stay out of the other codebases' registries
    from mmaction.registry import METRICS as ACTION_METRICS
    with DefaultScope.overwrite_default_scope('mmaction'):
        with pytest.raises(KeyError, match='VideoPose3DMetric'):
            ACTION_METRICS.build(dict(type='VideoPose3DMetric'))
