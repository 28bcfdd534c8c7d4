"""One rule for "is a spiking neuron": the reset hook, FiringRateHook and the energy counter see
the same neurons, whether they are mmspike's or spikingjelly's."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from torch import nn

import mmspike  # noqa: F401
from mmspike.energy import estimate_energy
from mmspike.hooks import FiringRateHook, SpikeResetHook
from mmspike.layers.temporal import SeqToANN
from mmspike.neurons import MultiStepLIF, is_spiking_neuron

neuron = pytest.importorskip('spikingjelly.activation_based.neuron',
                             reason='spikingjelly 2.0 is part of the test environment')


class TwoNeuronSNN(nn.Module):
    """conv (real input) -> neuron -> conv -> neuron -> linear on ``[T, B, C, H, W]``."""

    def __init__(self, make_neuron):
        super().__init__()
        self.conv1 = SeqToANN(nn.Conv2d(3, 6, 3, padding=1))
        self.lif1 = make_neuron()
        self.conv2 = SeqToANN(nn.Conv2d(6, 5, 1))
        self.lif2 = make_neuron()
        self.fc = nn.Linear(5 * 8 * 8, 4)

    def forward(self, x):
        return self.fc(self.lif2(self.conv2(self.lif1(self.conv1(x)))).flatten(2))


def build_pair():
    torch.manual_seed(0)
    ours = TwoNeuronSNN(lambda: MultiStepLIF(tau=2.0)).eval()
    theirs = TwoNeuronSNN(
        lambda: neuron.LIFNode(tau=2.0, step_mode='m', detach_reset=True)).eval()
    theirs.load_state_dict(ours.state_dict())
    with torch.no_grad():
        for model in (ours, theirs):
            model.conv2.module.weight.mul_(4.0)  # make the second layer fire too
    return ours, theirs


def hook_report(model, batches, tmp_path):
    """Run FiringRateHook around a test loop over ``batches``, as a Runner would."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    hook = FiringRateHook(plot=False, log_per_layer=False)
    runner = SimpleNamespace(model=model, work_dir=str(tmp_path),
                             logger=MMLogger.get_instance('firing_rate_test'),
                             message_hub=MessageHub.get_instance('firing_rate_test'), epoch=0)
    metrics = {}
    hook.before_test_epoch(runner)
    for index, x in enumerate(batches):
        SpikeResetHook().before_test_iter(runner, index)
        with torch.no_grad():
            model(x)
    hook.after_test_epoch(runner, metrics)
    return metrics


def test_predicate_accepts_both_libraries_neurons_and_nothing_else():
    ours, theirs = build_pair()
    assert [n for n, m in ours.named_modules() if is_spiking_neuron(m)] == ['lif1', 'lif2']
    assert [n for n, m in theirs.named_modules() if is_spiking_neuron(m)] == ['lif1', 'lif2']


def test_firing_rate_hook_and_energy_agree_for_spikingjelly_and_mmspike_neurons(tmp_path):
    ours, theirs = build_pair()
    torch.manual_seed(1)
    batches = [torch.randn(4, 2, 3, 8, 8) * 8.0 for _ in range(3)]
    rates = {}
    for name, model in (('mmspike', ours), ('spikingjelly', theirs)):
        metrics = hook_report(model, batches, tmp_path / name)
        # every batch has the same number of neuron-steps, so the rate over all batches is the
        # mean of the per-batch rates
        energy_rate = sum(estimate_energy(model, x).firing_rate for x in batches) / len(batches)
        rates[name] = metrics['firing_rate_overall']
        # both tools count exactly the same spikes over the same neuron-steps
        assert metrics['firing_rate_overall'] == pytest.approx(energy_rate, rel=1e-12)
        assert 0.05 < metrics['firing_rate_overall'] < 0.95
    # the two libraries' LIF neurons fire identically on the same weights
    assert rates['mmspike'] == pytest.approx(rates['spikingjelly'], rel=1e-9)


def test_reset_hook_resets_spikingjelly_neurons():
    _, theirs = build_pair()
    theirs(torch.randn(2, 1, 3, 8, 8))
    assert all(torch.is_tensor(m.v) for m in (theirs.lif1, theirs.lif2))
    SpikeResetHook().before_train_iter(SimpleNamespace(model=theirs), 0)
    assert all(not torch.is_tensor(m.v) for m in (theirs.lif1, theirs.lif2))
