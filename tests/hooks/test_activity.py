"""SpikeActivityRecorder with integer spikes: a neuron's firing rate is its mean spike value, but
the non-zero rate of the layer it feeds counts non-zero elements, not spike values."""
import pytest
import torch
from torch import nn

from mmspike.hooks.activity import SpikeActivityRecorder, summarize_activity
from mmspike.layers import SeqToANN
from mmspike.neurons import MultiStepILIF, MultiStepLIF


@pytest.mark.parametrize('make_neuron', [lambda: MultiStepILIF(levels=4), MultiStepLIF],
                         ids=['integer', 'binary'])
def test_input_nonzero_rate_counts_elements_not_spike_values(make_neuron):
    torch.manual_seed(0)
    model = nn.Sequential(SeqToANN(nn.Conv2d(3, 4, 3, padding=1)), make_neuron(),
                          SeqToANN(nn.Conv2d(4, 2, 1))).eval()
    captured = []
    model[1].register_forward_hook(lambda m, args, out: captured.append(out.detach()))
    recorder = SpikeActivityRecorder(model)
    recorder.start()
    with torch.no_grad():
        model(torch.randn(3, 2, 3, 6, 6) * 6.0)
    recorder.stop()
    report = summarize_activity(recorder.counts())
    spikes, = captured
    neuron, = report['layers']
    inputs = {row['name']: row for row in report['inputs']}
    assert neuron['firing_rate'] == pytest.approx(float(spikes.mean()))
    nonzero = (spikes != 0).double()
    assert inputs['2.module']['nonzero_rate'] == pytest.approx(float(nonzero.mean()))
    assert inputs['2.module']['per_step'] == pytest.approx(
        [float(nonzero[t].mean()) for t in range(spikes.shape[0])])
    if isinstance(model[1], MultiStepILIF):  # the case the two counts differ in
        assert float(spikes.max()) > 1 and float(spikes.mean()) > float(nonzero.mean())
