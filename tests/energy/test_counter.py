"""Energy estimation: counting formulas against naive references, hand counts, spikingjelly."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmspike  # noqa: F401
from mmspike.energy import (EnergyCounter, conv_dense_macs, conv_synaptic_ops, estimate_energy,
                            is_spike_tensor, matmul_counts)
from mmspike.hooks.activity import SpikeActivityRecorder, summarize_activity
from mmspike.layers.temporal import SeqToANN
from mmspike.neurons import MultiStepLIF, reset_neurons


def naive_conv_synaptic_ops(x, weight_shape, stride, padding, dilation, groups):
    """Loop over every output position, output channel and kernel tap of a 2D convolution."""
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight_shape
    out_h = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    total = 0
    for b, o, i, j in itertools.product(range(n), range(c_out), range(out_h), range(out_w)):
        group = o // (c_out // groups)
        for c, u, v in itertools.product(range(c_per_group), range(kh), range(kw)):
            y = i * stride - padding + u * dilation
            xx = j * stride - padding + v * dilation
            if 0 <= y < h and 0 <= xx < w and x[b, group * c_per_group + c, y, xx] != 0:
                total += 1
    return total


@pytest.mark.parametrize('stride,padding,dilation,groups', [
    (1, 0, 1, 1), (1, 1, 1, 1), (2, 1, 1, 2), (2, 2, 2, 1), (1, 1, 1, 4)])
def test_conv_synaptic_ops_equals_naive_loop(stride, padding, dilation, groups):
    torch.manual_seed(stride + 10 * padding + 100 * groups)
    x = (torch.rand(2, 4, 7, 6) < 0.3).float()
    weight_shape = (8, 4 // groups, 3, 3)
    expected = naive_conv_synaptic_ops(x, weight_shape, stride, padding, dilation, groups)
    got = conv_synaptic_ops(x, weight_shape, (stride, stride), (padding, padding),
                            (dilation, dilation), groups)
    assert got == expected
    # the same thing as convolving the non-zero mask with an all-ones kernel
    ones = torch.ones(weight_shape)
    assert got == int(F.conv2d(x, ones, stride=stride, padding=padding, dilation=dilation,
                               groups=groups).sum())


def test_conv_synaptic_ops_1d_3d_and_transposed():
    torch.manual_seed(0)
    x1 = (torch.rand(2, 3, 11) < 0.4).float()
    w1 = (5, 3, 3)
    assert conv_synaptic_ops(x1, w1, (2,), (1,), (1,), 1) == \
        int(F.conv1d(x1, torch.ones(w1), stride=2, padding=1).sum())
    x3 = (torch.rand(1, 4, 4, 5, 5) < 0.4).float()
    w3 = (6, 2, 2, 3, 3)
    assert conv_synaptic_ops(x3, w3, (1, 2, 2), (0, 1, 1), (1, 1, 1), 2) == \
        int(F.conv3d(x3, torch.ones(w3), stride=(1, 2, 2), padding=(0, 1, 1), groups=2).sum())
    # transposed: every non-zero input reaches each kernel tap inside the output
    xt = (torch.rand(1, 3, 5, 5) < 0.5).float()
    wt = (3, 4, 3, 3)  # (C_in, C_out, k, k)
    expected = int(F.conv_transpose2d(xt, torch.ones(wt), stride=2, padding=1).sum())
    assert conv_synaptic_ops(xt, wt, (2, 2), (1, 1), (1, 1), 1, transposed=True,
                             output_padding=(0, 0)) == expected


def test_matmul_counts_against_naive_forms():
    torch.manual_seed(0)
    a = (torch.rand(3, 5, 4) < 0.5).float()
    b = (torch.rand(3, 4, 6) < 0.5).float()
    real = torch.randn(3, 4, 6)
    assert matmul_counts(a, b, True, True) == (0, int((a @ b).sum()))
    assert matmul_counts(a, real, True, False) == (0, int((a != 0).sum()) * 6)
    assert matmul_counts(real.transpose(1, 2), a.transpose(1, 2), False, True) == \
        (0, int((a != 0).sum()) * 6)
    assert matmul_counts(real.transpose(1, 2), real, False, False) == (3 * 6 * 4 * 6, 0)
    assert conv_dense_macs((8, 2, 3, 3), (2, 8, 5, 5)) == 2 * 8 * 25 * 2 * 9


def test_is_spike_tensor():
    assert is_spike_tensor(torch.tensor([0.0, 1.0, 1.0]))
    assert not is_spike_tensor(torch.tensor([0.0, 0.5]))
    assert not is_spike_tensor(torch.tensor([0.0, 2.0]))
    assert is_spike_tensor(torch.tensor([0.0, 2.0, 4.0]), max_spike_value=4)
    assert not is_spike_tensor(torch.tensor([0.0, -1.0]), max_spike_value=4)
    assert is_spike_tensor(torch.tensor([True, False]))


class ToySNN(nn.Module):
    """conv on real input -> neuron -> conv -> neuron -> linear, multi-step [T, B, ...]."""

    def __init__(self):
        super().__init__()
        self.conv1 = SeqToANN(nn.Conv2d(3, 6, 3, padding=1))
        self.lif1 = MultiStepLIF(tau=2.0)
        self.conv2 = SeqToANN(nn.Conv2d(6, 5, 1))
        self.lif2 = MultiStepLIF(tau=2.0)
        self.fc = nn.Linear(5 * 8 * 8, 4)

    def forward(self, x):
        s2 = self.lif2(self.conv2(self.lif1(self.conv1(x))))
        return self.fc(s2.flatten(2))


@pytest.fixture
def toy():
    torch.manual_seed(0)
    model = ToySNN().eval()
    with torch.no_grad():
        model.conv2.module.weight.mul_(4.0)  # make the second layer fire too
    return model


def test_toy_model_report_equals_hand_count(toy):
    steps, batch = 3, 2
    x = torch.randn(steps, batch, 3, 8, 8) * 2.0
    spikes = {}
    toy.lif1.register_forward_hook(lambda m, i, o: spikes.__setitem__('s1', o))
    toy.lif2.register_forward_hook(lambda m, i, o: spikes.__setitem__('s2', o))
    report = estimate_energy(toy, x, e_mac_pj=4.6, e_ac_pj=0.9)

    s1, s2 = spikes['s1'], spikes['s2']
    assert 0 < s1.mean() < 1 and 0 < s2.mean() < 1
    mac_conv1 = steps * batch * 6 * 8 * 8 * 3 * 3 * 3  # real input: every MAC
    ac_conv2 = int(s1.sum()) * 5  # 1x1 conv: every spike reaches 5 output channels
    ac_fc = int(s2.sum()) * 4  # every spike reaches 4 outputs
    assert report.mac == mac_conv1
    assert report.ac == ac_conv2 + ac_fc
    assert report.energy_mj == pytest.approx((4.6 * mac_conv1 + 0.9 * (ac_conv2 + ac_fc)) / 1e9,
                                             rel=1e-12)
    rows = {row.name: row for row in report.layers if row.kind == 'synaptic'}
    assert list(rows) == ['conv1.module', 'conv2.module', 'fc']
    neurons = {row.name: row for row in report.layers if row.kind == 'neuron'}
    assert list(neurons) == ['lif1', 'lif2']
    assert rows['conv1.module'].macs == mac_conv1 and rows['conv1.module'].acs == 0
    assert rows['conv2.module'].acs == ac_conv2 and rows['conv2.module'].macs == 0
    assert rows['conv2.module'].input_rate == pytest.approx(float(s1.mean()))
    assert rows['fc'].acs == ac_fc and rows['fc'].type == 'Linear'
    assert report.dense_mac == mac_conv1 + steps * batch * 5 * 64 * 6 + steps * batch * 320 * 4
    total_spikes = float(s1.sum() + s2.sum())
    assert report.firing_rate == pytest.approx(total_spikes / (s1.numel() + s2.numel()))


def test_presets_and_bad_arguments(toy):
    x = torch.randn(2, 1, 3, 8, 8)
    fp32 = estimate_energy(toy, x)
    int8 = estimate_energy(toy, x, preset='int8')
    assert (fp32.mac, fp32.ac) == (int8.mac, int8.ac)
    assert int8.energy_mj == pytest.approx((0.23 * int8.mac + 0.03 * int8.ac) / 1e9)
    with pytest.raises(ValueError, match='unknown energy preset'):
        estimate_energy(toy, x, preset='fp64')
    with pytest.raises(ValueError, match='must be >= 0'):
        estimate_energy(toy, x, e_ac_pj=-1)


def test_attention_matmuls_are_counted_functionally():
    class SpikingAttention(nn.Module):
        def forward(self, q, k, v):
            return q @ (k.transpose(-2, -1) @ v)

    torch.manual_seed(0)
    q, k, v = [(torch.rand(2, 4, 10, 8) < 0.3).float() for _ in range(3)]
    report = estimate_energy(SpikingAttention(), (q, k, v))
    rows = {row.name: row for row in report.layers}
    kv = k.transpose(-2, -1) @ v
    assert rows['bmm#0'].acs == int(kv.sum())  # spikes x spikes: pairs of ones
    assert rows['bmm#1'].acs == int((q != 0).sum()) * 8  # spikes x integer counts
    assert report.mac == 0


def test_nested_counters_do_not_count_each_other(toy):
    x = torch.randn(2, 1, 3, 8, 8)
    alone = estimate_energy(toy, x)
    outer = EnergyCounter(toy)
    inner = EnergyCounter(toy)
    with torch.no_grad(), outer, inner:
        toy(x)
    toy.lif1.reset()
    toy.lif2.reset()
    for counter in (outer, inner):
        report = counter.report()
        assert (report.mac, report.ac) == (alone.mac, alone.ac)


def _spikingjelly_compute_pj(model, inputs):
    op_counter = pytest.importorskip('spikingjelly.activation_based.op_counter')
    report = op_counter.estimate_simple_energy(model, inputs)
    return report.energy_compute_pj


def temporal_norm_mj(model, report):
    """The energy of the rows of mmspike's per-time-step BatchNorms (``addcmul`` in eval),
    which spikingjelly's rule table does not match."""
    from mmspike.layers.temporal import _TemporalBatchNorm
    names = {f'{name}[elementwise]' for name, module in model.named_modules()
             if isinstance(module, _TemporalBatchNorm)}
    return sum(r.energy_mj for r in report.layers if r.name in names)


def _compare_with_spikingjelly(model, inputs):
    sj_pj = _spikingjelly_compute_pj(model, inputs)
    synaptic = estimate_energy(model, inputs)
    full = estimate_energy(model, inputs, count_elementwise=True)
    # the two modes differ exactly by the element-wise rows
    extra = sum(r.energy_mj for r in full.layers if r.type == 'elementwise')
    assert full.energy_mj == pytest.approx(synaptic.energy_mj + extra, rel=1e-9)
    assert (full.mac, full.ac) >= (synaptic.mac, synaptic.ac)
    both_count = full.energy_mj - temporal_norm_mj(model, full)
    return synaptic.energy_mj * 1e9, both_count * 1e9, sj_pj


def test_toy_model_agrees_with_spikingjelly(toy):
    x = torch.randn(4, 2, 3, 8, 8) * 2.0
    synaptic_pj, full_pj, sj_pj = _compare_with_spikingjelly(toy, x)
    print(f'toy: mmspike {synaptic_pj:.0f} pJ (synaptic), {full_pj:.0f} pJ (+element-wise); '
          f'spikingjelly {sj_pj:.0f} pJ')
    # docs/energy.md: 412,375 pJ vs spikingjelly's 412,834 pJ (-0.11%)
    assert full_pj == pytest.approx(sj_pj, rel=2e-3)


def test_svformer_small_agrees_with_spikingjelly():
    from mmspike.backbones import SVFormer
    torch.manual_seed(0)
    model = SVFormer(arch='tiny', num_frames=4, img_size=64).eval()
    with torch.no_grad():  # an untrained model hardly fires: give it realistic rates
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.weight.fill_(2.0)  # mean firing rate about 0.15, attention active
                module.bias.fill_(0.5)
    x = torch.randn(2, 3, 4, 64, 64)
    synaptic_pj, full_pj, sj_pj = _compare_with_spikingjelly(model, x)
    report = estimate_energy(model, x)
    assert 0.02 < report.firing_rate < 0.5
    assert any(r.type == 'bmm' and r.acs > 0 for r in report.layers)  # attention counted
    print(f'SVFormer tiny: mmspike {synaptic_pj:.0f} pJ (synaptic), {full_pj:.0f} pJ '
          f'(+element-wise but the per-time-step BatchNorms); spikingjelly {sj_pj:.0f} pJ; '
          f'firing rate {report.firing_rate:.3f}')
    # docs/energy.md: 85.83 uJ vs spikingjelly's 85.80 uJ (+0.03%)
    assert full_pj == pytest.approx(sj_pj, rel=5e-4)


def test_activity_recorder_counts_neurons_and_inputs_per_step(toy):
    steps, batch = 3, 2
    x = torch.randn(steps, batch, 3, 8, 8) * 2.0
    captured = {}
    toy.lif1.register_forward_hook(lambda m, i, o: captured.__setitem__('s1', o))
    recorder = SpikeActivityRecorder(toy)
    recorder.start()
    with torch.no_grad():
        toy(x)
        toy.lif1.reset()
        toy.lif2.reset()
    recorder.stop()
    report = summarize_activity(recorder.counts())
    neurons = {r['name']: r for r in report['layers']}
    inputs = {r['name']: r for r in report['inputs']}
    s1 = captured['s1']
    assert neurons['lif1']['firing_rate'] == pytest.approx(float(s1.mean()))
    assert neurons['lif1']['per_step'] == pytest.approx(
        [float(s1[t].mean()) for t in range(steps)])
    # conv2 runs inside SeqToANN on [T*B, ...]: its input is lif1's output
    assert inputs['conv2.module']['nonzero_rate'] == pytest.approx(float(s1.mean()))
    assert inputs['conv2.module']['per_step'] == pytest.approx(
        [float(s1[t].mean()) for t in range(steps)])
    assert inputs['conv1.module']['nonzero_rate'] == 1.0  # real-valued frames
    assert inputs['fc']['per_step'] is not None and len(inputs['fc']['per_step']) == steps
    # stopped: further forwards are not recorded
    with torch.no_grad():
        toy(x)
    assert summarize_activity(recorder.counts())['layers'][0]['neuron_steps'] == s1.numel()


class _ToyRecognizer:
    """A BaseModel around ToySNN, built lazily so that mmengine is imported inside workers."""

    @staticmethod
    def build():
        from mmengine.model import BaseModel

        class ToyRecognizer(BaseModel):
            def __init__(self):
                super().__init__()
                self.snn = ToySNN()

            def forward(self, inputs, data_samples=None, mode='tensor'):
                reset_neurons(self.snn)
                return self.snn(inputs.transpose(0, 1))  # (B, T, ...) -> [T, B, ...]

        torch.manual_seed(0)
        model = ToyRecognizer().eval()
        with torch.no_grad():
            model.snn.conv2.module.weight.mul_(4.0)
        return model


def _metric_worker(rank, world_size, port, inputs, out_file):
    import torch.distributed as dist

    from mmspike.evaluation import SpikeEnergyMetric
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    model = _ToyRecognizer.build()
    metric = SpikeEnergyMetric()
    shard = inputs[rank::world_size]
    with torch.no_grad():
        for start in range(0, len(shard), 2):
            batch = shard[start:start + 2]
            model(batch)
            metric.process(None, [dict() for _ in range(len(batch))])
    result = metric.evaluate(len(inputs))
    if rank == 0:
        torch.save(result, out_file)
    dist.destroy_process_group()


def test_spike_energy_metric_single_process_and_ddp(tmp_path):
    import socket

    import torch.multiprocessing as mp

    from mmspike.evaluation import SpikeEnergyMetric
    torch.manual_seed(1)
    inputs = torch.randn(6, 3, 3, 8, 8) * 2.0  # 6 samples, 3 steps
    model = _ToyRecognizer.build()
    reference = estimate_energy(model, inputs)
    expected = {'energy/mJ_per_sample': reference.energy_mj / 6,
                'energy/MACs_per_sample': reference.mac / 6,
                'energy/ACs_per_sample': reference.ac / 6,
                'energy/dense_MACs_per_sample': reference.dense_mac / 6,
                'energy/firing_rate': reference.firing_rate,
                'energy/compute_mJ': reference.energy_mj / 6, 'energy/memory_mJ': 0.0,
                'energy/ann_mJ': reference.total_mj('compute', 'ann') / 6,
                'energy/qnn_mJ': reference.total_mj('compute', 'qnn') / 6,
                'energy/ann_ratio': reference.ratios()['ann'],
                'energy/qnn_ratio': reference.ratios()['qnn'], 'energy/qnn_bits': 1}

    metric = SpikeEnergyMetric()
    with pytest.raises(RuntimeError, match='saw no model forward'):
        metric.process(None, [dict()])
    with torch.no_grad():
        for start in range(0, 6, 4):
            batch = inputs[start:start + 4]
            model(batch)
            metric.process(None, [dict() for _ in range(len(batch))])
    model.train()
    model(inputs[:2])  # a training forward (gradients on) is not counted
    model.eval()
    single = metric.evaluate(6)
    assert single == pytest.approx(expected, rel=1e-9)
    del metric

    # the same counts under the 'memory' model: its parts and its baselines
    metric = SpikeEnergyMetric(energy_model='memory')
    with torch.no_grad():
        model(inputs)
    metric.process(None, [dict() for _ in range(6)])
    memory = metric.evaluate(6)
    del metric
    parts = reference.breakdown('memory')
    assert memory['energy/mJ_per_sample'] == pytest.approx(parts.total / 6, rel=1e-9)
    assert memory['energy/compute_mJ'] == pytest.approx(parts.parts['compute'] / 6, rel=1e-9)
    for part in ('params', 'state', 'activations'):
        assert memory[f'energy/memory_{part}_mJ'] == pytest.approx(parts.parts[part] / 6,
                                                                   rel=1e-9)
        assert parts.parts[part] > 0
    assert memory['energy/qnn_ratio'] == pytest.approx(reference.ratios('memory')['qnn'],
                                                       rel=1e-9)
    assert memory['energy/MACs_per_sample'] == expected['energy/MACs_per_sample']

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / 'ddp_result.pt')
    mp.spawn(_metric_worker, args=(2, port, inputs, out_file), nprocs=2, join=True)
    assert torch.load(out_file) == pytest.approx(expected, rel=1e-9)


def test_recorder_bookkeeping_is_not_counted_as_model_energy(toy):
    x = torch.randn(2, 1, 3, 8, 8)
    alone = estimate_energy(toy, x, count_elementwise=True)
    recorder = SpikeActivityRecorder(toy)
    recorder.start()
    with_recorder = estimate_energy(toy, x, count_elementwise=True)
    recorder.stop()
    assert (with_recorder.mac, with_recorder.ac) == (alone.mac, alone.ac)


def test_integer_spikes_count_as_their_binary_sub_steps():
    """An I-LIF spike s is s binary spikes (the paper's D binary steps): a layer's ACs on
    integer spikes equal the sum of its ACs on the D binary sub-steps."""
    from mmspike.neurons import expand_integer_spikes
    torch.manual_seed(0)
    levels = 4
    spikes = torch.randint(0, levels + 1, (2, 3, 6, 6)).float()
    spikes[spikes == 2] = 0  # some zeros
    sub_steps = expand_integer_spikes(spikes, levels)
    args = ((5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1)
    assert conv_synaptic_ops(spikes, *args) == sum(conv_synaptic_ops(s, *args)
                                                   for s in sub_steps)
    a = torch.randint(0, levels + 1, (2, 4, 5)).float()
    b = torch.randint(0, levels + 1, (2, 5, 3)).float()
    real = torch.randn(2, 5, 3)
    a_steps, b_steps = expand_integer_spikes(a, levels), expand_integer_spikes(b, levels)
    assert matmul_counts(a, real, True, False)[1] == sum(
        matmul_counts(x, real, True, False)[1] for x in a_steps)
    assert matmul_counts(a, b, True, True)[1] == sum(
        matmul_counts(x, y, True, True)[1] for x in a_steps for y in b_steps)


def test_counter_reads_the_integer_spike_range_from_the_model():
    from mmspike.energy.counter import spike_value_range
    from mmspike.neurons import MultiStepILIF

    class IntegerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.neuron = MultiStepILIF(levels=4)
            self.conv = SeqToANN(nn.Conv2d(2, 3, 1, bias=False))

        def forward(self, x):
            return self.conv(self.neuron(x))

    torch.manual_seed(0)
    model = IntegerNet()
    assert spike_value_range(model) == 4 and spike_value_range(nn.Conv2d(1, 1, 1)) == 1
    x = torch.rand(2, 1, 2, 4, 4) * 12           # I-LIF emits values up to 4
    with EnergyCounter(model) as counter, torch.no_grad():
        spikes = model.neuron(x)
        model.conv(spikes)
    report = counter.report()
    assert float(spikes.max()) > 1
    assert report.mac == 0                       # counted as spikes, not as real values
    assert report.ac == int(spikes.sum()) * 3    # every unit of spike value, times C_out
    model.neuron.reset()
    with EnergyCounter(model, max_spike_value=1) as binary_only, torch.no_grad():
        model(x)
    assert binary_only.report().ac == 0 and binary_only.report().mac > 0


def _backbone(name, neuron_cfg=None):
    from mmspike.backbones import SpikeVideoFormer, SVFormer
    torch.manual_seed(0)
    extra = {} if neuron_cfg is None else dict(neuron_cfg=neuron_cfg)
    if name == 'svformer':
        return SVFormer(arch='tiny', num_frames=4, img_size=64, **extra).eval()
    return SpikeVideoFormer(arch='tiny', num_frames=4, **extra).eval()


@pytest.mark.parametrize('name', ['svformer', 'spikevideoformer'])
def test_memory_model_agrees_with_spikingjelly_simple_energy(name):
    """'memory' against spikingjelly 2.0's estimate_simple_energy on the tiny backbones (4
    frames of 64 x 64, seed 0, initial weights), part by part: compute, parameter reads and
    neuron state. spikingjelly reads neuron state only from its own neurons, so the state part
    is compared on the same backbone built with spikingjelly's neurons; it counts no activation
    traffic, which is checked against its own hand count."""
    op_counter = pytest.importorskip('spikingjelly.activation_based.op_counter',
                                     reason='spikingjelly 2.0 is the reference')
    sj_neuron = pytest.importorskip('spikingjelly.activation_based.neuron')
    torch.manual_seed(0)
    x = torch.randn(1, 3, 4, 64, 64)
    model = _backbone(name)
    report = estimate_energy(model, x, energy_model='memory')
    sj = op_counter.estimate_simple_energy(model, x)
    parts = {k: v * 1e9 for k, v in report.breakdown('memory').parts.items()}  # pJ
    # 'compute' is still E_MAC x MACs + E_AC x ACs, the same figure as before
    compute = estimate_energy(model, x)
    assert compute.energy_mj == pytest.approx((compute.mac * 4.6 + compute.ac * 0.9) / 1e9,
                                              rel=1e-12)
    assert (report.mac, report.ac) == (compute.mac, compute.ac)
    assert report.total_mj('compute') == pytest.approx(compute.energy_mj, rel=1e-12)
    assert report.energy_mj == pytest.approx(sum(parts.values()) / 1e9, rel=1e-12)

    elementwise = estimate_energy(model, x, count_elementwise=True)
    both_count = parts['compute'] - temporal_norm_mj(model, elementwise) * 1e9
    print(f'{name}: compute {parts["compute"]:.0f} pJ ({both_count:.0f} without the '
          f'per-time-step BatchNorms) vs spikingjelly {sj.energy_compute_pj:.0f}; parameters '
          f'{parts["params"]:.0f} vs {sj.breakdown_pj["parameter_memory_pj"]:.0f}')
    assert both_count == pytest.approx(sj.energy_compute_pj, rel=1e-2)
    assert parts['params'] == pytest.approx(sj.breakdown_pj['parameter_memory_pj'], rel=1e-2)

    plif = dict(type=sj_neuron.ParametricLIFNode, step_mode='m', detach_reset=True)
    lif = dict(type=sj_neuron.LIFNode, step_mode='m', detach_reset=True)
    sj_model = _backbone(name, plif if name == 'svformer' else lif)
    sj_report = estimate_energy(sj_model, x, energy_model='memory').breakdown('memory')
    sj_counts = op_counter.estimate_simple_energy(sj_model, x)
    assert sj_report.parts['state'] * 1e9 == pytest.approx(
        sj_counts.breakdown_pj['neuron_state_memory_pj'], rel=1e-2)
    assert (sj_report.parts['params'] + sj_report.parts['state']) * 1e9 == pytest.approx(
        sj_counts.energy_memory_pj, rel=1e-2)
    # the same state with mmspike's neurons: one membrane per neuron, read and written per step
    assert parts['state'] == pytest.approx(sj_report.parts['state'] * 1e9, rel=1e-9)
    steps = sum(row.input_elements for row in report.layers if row.kind == 'neuron')
    assert parts['state'] == pytest.approx(steps * 2 * 4 * 24.96, rel=1e-9)
    print(f'{name}: state {parts["state"]:.0f} pJ vs spikingjelly (its neurons) '
          f'{sj_counts.breakdown_pj["neuron_state_memory_pj"]:.0f}; activations '
          f'{parts["activations"]:.0f} pJ (not in spikingjelly\'s model)')
