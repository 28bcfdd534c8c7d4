"""Neurons and surrogates are built through mmengine's MODELS under the names configs use."""
import pytest
import torch
from mmengine.registry import MODELS

from mmspike.neurons import (ATanSurrogate, MultiStepILIF, MultiStepLIF, MultiStepPLIF,
                             SigmoidSurrogate, accepts_argument, build_neuron, build_surrogate,
                             neuron_class, registered_neurons, registered_surrogates)


@pytest.mark.parametrize('names,cls', [
    (('LIF', 'MultiStepLIF'), MultiStepLIF),
    (('PLIF', 'MultiStepPLIF'), MultiStepPLIF),
    (('ILIF', 'MultiStepILIF'), MultiStepILIF),
    (('atan', 'ATanSurrogate'), ATanSurrogate),
    (('sigmoid', 'SigmoidSurrogate'), SigmoidSurrogate),
])
def test_config_names_and_class_names_are_registered_in_the_root_models(names, cls):
    for name in names:
        assert MODELS.get(name) is cls
        assert type(MODELS.build(dict(type=name))) is cls


def test_build_neuron_by_name_or_class_with_arguments():
    lif = build_neuron(dict(type='LIF', tau=3.0, surrogate=dict(type='atan', alpha=3.0),
                            backend='reference'))
    assert type(lif) is MultiStepLIF and lif.tau == 3.0 and lif.backend == 'reference'
    assert type(lif.surrogate) is ATanSurrogate and lif.surrogate.alpha == 3.0
    ilif = build_neuron(dict(type=MultiStepILIF, levels=2))
    assert type(ilif) is MultiStepILIF and ilif.levels == 2 and ilif.max_spike_value == 2
    cfg = dict(type='PLIF', init_tau=2.0)
    build_neuron(cfg)
    assert cfg == dict(type='PLIF', init_tau=2.0)  # the config is not consumed


def test_unknown_or_wrong_neuron_types_name_the_registered_neurons():
    assert {'LIF', 'PLIF', 'ILIF', 'MultiStepLIF'} <= set(registered_neurons())
    assert 'atan' not in registered_neurons()
    with pytest.raises(ValueError, match=r"unknown neuron type 'LIFF'; expected one of the "
                                         r"neurons registered in MODELS: \[.*'ILIF'.*'LIF'.*"
                                         r"'PLIF'"):
        build_neuron(dict(type='LIFF'))
    with pytest.raises(ValueError, match=r"neuron type 'atan' is ATanSurrogate, not a spiking "
                                         r"neuron"):
        build_neuron(dict(type='atan'))
    with pytest.raises(ValueError, match='not a spiking neuron'):
        build_neuron(dict(type=torch.nn.ReLU))
    with pytest.raises(ValueError, match=r'a neuron config is a dict with a "type"'):
        build_neuron(dict(tau=2.0))
    with pytest.raises(ValueError, match='tau must be > 1, got 0.5'):
        build_neuron(dict(type='LIF', tau=0.5))


def test_build_surrogate_names_dicts_modules_and_errors():
    assert type(build_surrogate('atan')) is ATanSurrogate
    assert type(build_surrogate('ATan')) is ATanSurrogate  # the names were case-insensitive
    assert type(build_surrogate('Sigmoid')) is SigmoidSurrogate
    assert build_surrogate(dict(type='sigmoid', alpha=2.5)).alpha == 2.5
    assert build_surrogate(dict(type=ATanSurrogate, alpha=1.5)).alpha == 1.5
    module = torch.nn.Identity()
    assert build_surrogate(module) is module
    assert {'atan', 'ATanSurrogate', 'sigmoid', 'SigmoidSurrogate'} <= set(
        registered_surrogates())
    assert 'LIF' not in registered_surrogates()
    with pytest.raises(ValueError, match=r"unknown surrogate 'relu'; expected one of the "
                                         r"surrogates registered in MODELS: \['ATanSurrogate'"):
        build_surrogate('relu')
    with pytest.raises(ValueError, match='not a SurrogateFunction'):
        build_surrogate(dict(type=torch.nn.Sigmoid))
    with pytest.raises(TypeError, match='got int'):
        build_surrogate(3)


def test_neuron_class_and_accepted_arguments():
    assert neuron_class('PLIF') is MultiStepPLIF and neuron_class(MultiStepLIF) is MultiStepLIF
    assert accepts_argument('LIF', 'v_threshold')
    assert not accepts_argument('ILIF', 'v_threshold')
