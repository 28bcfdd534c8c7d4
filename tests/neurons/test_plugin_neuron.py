"""A neuron registered by a plugin (here: in this test module) works everywhere mmspike's own do:
built from ``neuron_cfg=dict(type=...)`` by the backbones, reset by SpikeResetHook, recorded
by FiringRateHook, counted by the energy counter, never handed to the compiled kernels."""
import json
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import MODELS
from torch import nn

import mmspike  # noqa: F401  (registers the backbones)
from mmspike.energy import estimate_energy, spike_value_range
from mmspike.hooks import FiringRateHook, SpikeResetHook
from mmspike.layers import SeqToANN
from mmspike.neurons import (BaseMultiStepNeuron, MultiStepLIF, StatefulModule, build_neuron,
                             has_spiking_state, is_spiking_neuron, registered_neurons)
from mmspike.neurons.surrogates import heaviside_atan
from mmspike.ops import neuron_kernels

T, N = 2, 2


@MODELS.register_module()
class PluginIFNeuron(BaseMultiStepNeuron):
    """Integrate-and-fire without leak, hard reset to 0: the three formulas of the reference
    loop and nothing else (no fused-backend derivatives, no kernel parameters)."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = float(threshold)

    def charge(self, x, v):
        return v + x

    def fire(self, h):
        return heaviside_atan(h - self.threshold)

    def reset_membrane(self, h, spike):
        return h * (1.0 - spike)


@MODELS.register_module()
class PluginCountingNeuron(StatefulModule):
    """A neuron that only follows the StatefulModule protocol: integer spikes
    ``floor(clamp(V + X, 0, 3))`` (straight-through gradient), soft reset by the spike."""

    emits_spikes = True
    max_spike_value = 3

    def __init__(self):
        super().__init__()
        self.v = None

    def reset(self):
        self.v = None

    def get_state(self):
        return self.v

    def set_state(self, state):
        self.v = state

    def forward(self, x_seq):
        v = torch.zeros_like(x_seq[0]) if self.v is None else self.v
        spikes = []
        for x in x_seq:
            h = v + x
            level = torch.clamp(h, 0.0, 3.0)
            spike = level + (torch.floor(level) - level).detach()
            v = h - spike.detach()
            spikes.append(spike)
        self.v = v
        return torch.stack(spikes)


class LIFWithOwnCharge(MultiStepLIF):
    """A LIF subclass with another charge: the kernels (which run LIF's formulas) must not run
    it."""

    def charge(self, x, v):
        return v * 0.75 + x

    def charge_grads(self):
        return 1.0, 0.75


def _plugin_neurons(model, cls):
    return [m for m in model.modules() if isinstance(m, cls)]


def _spiking_layers(model):
    return [(name, m) for name, m in model.named_modules() if is_spiking_neuron(m)]


BACKBONES = {
    'SVFormer': dict(type='SVFormer', arch='tiny', num_frames=T, img_size=32),
    'SpikeVideoFormer': dict(type='SpikeVideoFormer', arch='tiny', num_frames=T),
    'SpikingConvNet': dict(type='SpikingConvNet', arch='tiny'),
}


def test_plugin_neurons_are_registered_and_built():
    assert {'LIF', 'PLIF', 'ILIF', 'PluginIFNeuron', 'PluginCountingNeuron'} <= set(
        registered_neurons())
    assert type(build_neuron(dict(type='PluginIFNeuron', threshold=0.3))) is PluginIFNeuron
    assert build_neuron(dict(type=PluginIFNeuron, threshold=0.3)).threshold == 0.3
    counting = build_neuron(dict(type='PluginCountingNeuron'))
    assert is_spiking_neuron(counting) and has_spiking_state(counting)
    with pytest.raises(ValueError, match=r"unknown neuron type 'PluginNeuronX'.*"
                                         r"'PluginCountingNeuron', 'PluginIFNeuron'"):
        build_neuron(dict(type='PluginNeuronX'))


@pytest.mark.parametrize('neuron_type', [PluginIFNeuron, PluginCountingNeuron],
                         ids=['BaseMultiStepNeuron', 'StatefulModule'])
@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_backbones_build_train_and_reset_plugin_neurons(backbone, neuron_type):
    torch.manual_seed(0)
    cfg = dict(BACKBONES[backbone], neuron_cfg=dict(type=neuron_type.__name__))
    model = MODELS.build(cfg).train()
    neurons = _plugin_neurons(model, neuron_type)
    # every neuron of the backbone is the plugin's
    assert neurons and len(neurons) == len(_spiking_layers(model))
    x = torch.randn(N, 3, T, 32, 32)
    outs = model(x)
    sum(out.float().mean() for out in outs).backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in trainable) > \
        len(trainable) // 2  # the surrogate gradients reach the layers
    assert all(torch.is_tensor(m.get_state()) for m in neurons)
    # the hook resets every plugin neuron
    SpikeResetHook().before_train_iter(SimpleNamespace(model=model), 0)
    assert all(m.get_state() is None for m in neurons)


def test_neurons_outside_the_kernel_kinds_run_the_pytorch_loop(monkeypatch):
    """The kernels run only mmspike's own formulas: a LIF subclass with its own charge runs the
    PyTorch loop (its fused backend equals its reference loop), and so does a plugin neuron
    that implements only the reference formulas."""
    calls = []
    original = neuron_kernels.forward
    monkeypatch.setattr(neuron_kernels, 'forward',
                        lambda *args: calls.append(args) or original(*args))
    x = torch.randn(4, 3, 5, requires_grad=True) * 1.5
    weights = torch.arange(5.0)

    def run(neuron):
        spikes = neuron(x)
        grad, = torch.autograd.grad((spikes * weights).sum(), x)
        return spikes, grad

    fused_spikes, fused_grad = run(LIFWithOwnCharge(surrogate='atan'))
    reference_spikes, reference_grad = run(LIFWithOwnCharge(surrogate='atan',
                                                            backend='reference'))
    assert not calls
    torch.testing.assert_close(fused_spikes, reference_spikes, rtol=0, atol=0)
    torch.testing.assert_close(fused_grad, reference_grad, rtol=1e-6, atol=1e-7)
    # the subclass's charge, v * 0.75 + x: 0.6, then 0.45 + 0.6 = 1.05 fires
    lif = LIFWithOwnCharge(v_threshold=1.0)
    assert lif(torch.tensor([[0.6], [0.6]])).flatten().tolist() == [0.0, 1.0]
    assert not calls

    plugin_spikes, _ = run(PluginIFNeuron(threshold=0.4))
    v, expected = torch.zeros(3, 5), []
    for step in x.detach():
        h = v + step
        expected.append((h >= 0.4).float())
        v = h * (1.0 - expected[-1])
    torch.testing.assert_close(plugin_spikes, torch.stack(expected), rtol=0, atol=0)
    assert not calls
    if neuron_kernels.load_cpu_kernels() is not None:  # the check itself sees kernel calls
        MultiStepLIF()(x.detach())
        assert len(calls) == 1


class ToySNN(nn.Module):
    """conv (real input) -> plugin neuron -> 1x1 conv on spikes -> plugin neuron."""

    def __init__(self, threshold):
        super().__init__()
        self.conv1 = SeqToANN(nn.Conv2d(3, 4, 3, padding=1))
        self.neuron1 = build_neuron(dict(type='PluginIFNeuron', threshold=threshold))
        self.conv2 = SeqToANN(nn.Conv2d(4, 5, 1, bias=False))
        self.neuron2 = build_neuron(dict(type='PluginIFNeuron', threshold=threshold))

    def forward(self, x):
        return self.neuron2(self.conv2(self.neuron1(self.conv1(x))))


def _record_spikes(model):
    """The spikes of every neuron layer, captured by the test's own forward hooks."""
    spikes = {}
    for name, module in _spiking_layers(model):
        module.register_forward_hook(
            lambda m, args, out, name=name: spikes.setdefault(name, []).append(out.detach()))
    return spikes


def test_firing_rate_hook_records_plugin_neurons(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(dict(BACKBONES['SpikeVideoFormer'],
                              neuron_cfg=dict(type='PluginIFNeuron'))).eval()
    spikes = _record_spikes(model)
    hook = FiringRateHook(plot=False, log_per_layer=False)
    runner = SimpleNamespace(model=model, work_dir=str(tmp_path),
                             logger=MMLogger.get_instance('plugin_neuron_test'),
                             message_hub=MessageHub.get_instance('plugin_neuron_test'), epoch=0)
    metrics = {}
    hook.before_test_epoch(runner)
    batches = [torch.randn(N, 3, T, 32, 32) for _ in range(2)]
    for index, x in enumerate(batches):
        SpikeResetHook().before_test_iter(runner, index)
        with torch.no_grad():
            model(x)
    hook.after_test_epoch(runner, metrics)
    # the rates computed here from the captured spikes
    rates = {name: (sum(float(s.sum()) for s in outs) / sum(s.numel() for s in outs))
             for name, outs in spikes.items()}
    assert len(rates) == len(_plugin_neurons(model, PluginIFNeuron))
    assert 0.0 < metrics['firing_rate_overall'] < 1.0
    assert metrics['firing_rate_mean'] == pytest.approx(sum(rates.values()) / len(rates),
                                                        rel=1e-9)
    total = sum(float(s.sum()) for outs in spikes.values() for s in outs)
    elements = sum(s.numel() for outs in spikes.values() for s in outs)
    assert metrics['firing_rate_overall'] == pytest.approx(total / elements, rel=1e-9)
    with open(tmp_path / 'firing_rates.json') as f:
        report = json.load(f)
    recorded = {row['name']: row for row in report['layers']}
    assert recorded.keys() == rates.keys()
    for name, rate in rates.items():
        assert recorded[name]['type'] == 'PluginIFNeuron'
        assert recorded[name]['firing_rate'] == pytest.approx(rate, rel=1e-9, abs=1e-12)


def test_energy_counter_counts_plugin_spikes_as_acs():
    x = torch.randn(T, N, 3, 6, 6) * 2.0

    def count(threshold):
        torch.manual_seed(0)
        model = ToySNN(threshold).eval()
        spikes = _record_spikes(model)
        report = estimate_energy(model, x)
        return model, report, spikes

    model, report, spikes = count(0.5)
    fired = float(spikes['neuron1'][0].sum())
    assert fired > 0
    row = next(r for r in report.layers if r.name == 'conv2.module')
    # a 1x1 convolution with 5 output channels on spikes: 5 accumulates per spike, no MAC
    assert row.spike_input and row.macs == 0 and row.acs == int(fired) * 5
    assert report.ac == row.acs  # conv1's input is real-valued (MACs)
    overall = sum(float(s[0].sum()) for s in spikes.values()) / sum(
        s[0].numel() for s in spikes.values())
    assert report.firing_rate == pytest.approx(overall, rel=1e-12)
    # a higher threshold: fewer spikes, fewer accumulates
    _, quieter, quiet_spikes = count(1.5)
    assert 0 < float(quiet_spikes['neuron1'][0].sum()) < fired
    assert quieter.firing_rate < report.firing_rate and quieter.ac < report.ac
    assert all(m.v is None for m in _plugin_neurons(model, PluginIFNeuron))  # reset after


def test_integer_plugin_neuron_sets_the_spike_range():
    model = nn.Sequential(SeqToANN(nn.Conv2d(3, 4, 1)), PluginCountingNeuron())
    assert spike_value_range(model) == 3
    assert spike_value_range(nn.Sequential(PluginIFNeuron())) == 1
