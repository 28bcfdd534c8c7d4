"""Unscoped mmspike names resolve from every OpenMMLab codebase's scope."""
import importlib

import pytest
import torch
from mmengine.registry import DefaultScope

import mmspike  # noqa: F401

SCOPES = ['mmaction', 'mmpose', 'mmseg']


@pytest.mark.parametrize('scope', SCOPES)
def test_models_resolve_unscoped(scope):
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        backbone = registry.MODELS.build(dict(type='SpikingConvNet', arch='tiny'))
        head = registry.MODELS.build(dict(type='SpikingClsHead', num_classes=3, in_channels=64))
    out = head(backbone(torch.randn(2, 3, 4, 16, 16)))
    assert out.shape == (2, 3)


@pytest.mark.parametrize('scope', SCOPES)
def test_video_backbones_and_energy_metric_resolve_unscoped(scope):
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        svf = registry.MODELS.build(dict(type='SpikeVideoFormer', arch='tiny',
                                         out_indices=(0, 1, 2, 3)))
        svformer = registry.MODELS.build(dict(type='SVFormer', arch='tiny', num_frames=2,
                                              img_size=32))
        metric = registry.METRICS.build(dict(type='SpikeEnergyMetric'))
    assert len(svf(torch.randn(1, 3, 2, 32, 32))) == 4
    assert type(svformer).__name__ == 'SVFormer'
    assert type(metric).__name__ == 'SpikeEnergyMetric'


@pytest.mark.parametrize('scope', SCOPES)
def test_hooks_resolve_unscoped(scope):
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        for name in ('SpikeResetHook', 'FiringRateHook'):
            hook = registry.HOOKS.build(dict(type=name))
            assert type(hook).__name__ == name


def test_recognizer_with_mmspike_parts_builds_in_mmaction_scope():
    from mmaction.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(dict(
            type='Recognizer3D',
            backbone=dict(type='SpikingConvNet', arch='tiny'),
            cls_head=dict(type='SpikingClsHead', num_classes=5, in_channels=64)))
    assert type(model.backbone).__name__ == 'SpikingConvNet'
