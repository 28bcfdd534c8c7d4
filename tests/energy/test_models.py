"""The hardware models of mmspike.energy.models through the counter: the SNN, ANN and QNN of a
two-layer model against hand counts under 'compute', 'memory' and 'lemaire'; 'lemaire' against
spikingjelly 2.0's estimate_lemaire_energy; 'lemaire' on every backbone and task model.

The expected figures are written from the formulas in the docstrings of
``mmspike/energy/models.py`` with this file's own constants and interpolation (numpy), never
with the module's helpers."""
import math
import os.path as osp
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from helpers import REPO, calibrate_batch_norms
from mmspike.energy import EnergyCounter, estimate_energy
from mmspike.energy.models import EnergyCosts
from mmspike.neurons import MultiStepILIF, MultiStepLIF, is_spiking_neuron, reset_neurons

MODELS = ('compute', 'memory', 'lemaire')
SYSTEMS = ('snn', 'ann', 'qnn')
PARTS = {'compute': ('compute', ), 'memory': ('compute', 'params', 'state', 'activations'),
         'lemaire': ('ops', 'addressing', 'memory')}
PJ_PER_MJ = 1e9
WORD = 4  # Lemaire's 32-bit words, in bytes


@dataclass(frozen=True)
class Constants:
    """The constants a hand count uses (pJ; bytes; Lemaire's pJ per byte at buffer sizes)."""

    e_mac: float
    e_ac: float
    e_mem: float
    e_add: float
    e_mul: float
    fifo_words: int
    points: tuple

    def sram(self, buffer_bytes):
        """pJ per byte of an access to a buffer of ``buffer_bytes`` (piecewise linear, clamped
        to the first and last point)."""
        sizes, costs = zip(*self.points)
        return float(np.interp(buffer_bytes, sizes, costs))


# 45 nm FP32 MAC / AC (Horowitz 2014); 3.12 pJ/bit; Lemaire: 0.1 pJ add, 3.1 pJ multiply,
# 10 / 20 / 100 pJ per 32-bit access at 8 KiB / 32 KiB / 1 MiB, a FIFO of 1000 words
DEFAULT = Constants(4.6, 0.9, 24.96, 0.1, 3.1, 1000,
                    ((0.0, 0.0), (8192.0, 2.5), (32768.0, 5.0), (1048576.0, 25.0)))
# other constants, chosen so that the QNN's min() takes its other branch and the largest buffer
# is clamped to the last point
CUSTOM = Constants(2.0, 0.5, 3.12, 0.6, 2.0, 64,
                   ((0.0, 0.0), (1024.0, 1.0), (4096.0, 2.0), (65536.0, 8.0)))


def counter_kwargs(constants):
    """estimate_energy's arguments for ``constants``."""
    if constants is DEFAULT:
        return {}
    return dict(e_mac_pj=constants.e_mac, e_ac_pj=constants.e_ac, costs=EnergyCosts(
        e_memory_pj_per_byte=constants.e_mem, e_add_pj=constants.e_add,
        e_mul_pj=constants.e_mul, memory_breakpoints=constants.points,
        fifo_elements=constants.fifo_words))


# -- 1. the baselines against hand counts on a two-layer model --------------------------------
T, B, IN, HIDDEN, OUT = 4, 3, 256, 64, 10


class TwoLayer(nn.Module):
    """Linear on real input -> multi-step neuron -> Linear on spikes, ``[T, B, IN]`` in."""

    def __init__(self, neuron, bias):
        super().__init__()
        self.fc1 = nn.Linear(IN, HIDDEN, bias=bias)
        self.neuron = neuron
        self.fc2 = nn.Linear(HIDDEN, OUT, bias=bias)
        with torch.no_grad():  # the neuron fires at a moderate rate on standard normal input
            self.fc1.weight.normal_(0.0, 2.0 / math.sqrt(IN))
            if bias:
                self.fc1.bias.fill_(0.5)

    def forward(self, x):
        return self.fc2(self.neuron(self.fc1(x)))


def two_layer(kind, bias):
    torch.manual_seed(0)
    neuron = MultiStepLIF() if kind == 'lif' else MultiStepILIF(levels=4)
    net = TwoLayer(neuron, bias).eval()
    x = torch.randn(T, B, IN, generator=torch.Generator().manual_seed(1))
    return net, x


def hand_counts(net, x, bits, spike_bits, k):
    """``{row: {'<model>/<system>': {part: pJ}}}`` of :class:`TwoLayer` on ``x``, written from
    the docstrings of mmspike.energy.models: ``bits`` the QNN's activation bits, ``spike_bits``
    the bits of one stored spike, ``k`` the :class:`Constants`."""
    with torch.no_grad():
        reset_neurons(net)
        spikes = net.neuron(net.fc1(x))
        reset_neurons(net)
    n = float(spikes.sum(dtype=torch.float64))  # spike mass: an integer spike s counts s times
    bias = net.fc1.bias is not None
    m = T * B  # rows of both products
    dense1, dense2 = m * IN * HIDDEN, m * HIDDEN * OUT
    syn2 = n * OUT  # accumulates of fc2: every spike reaches OUT weights
    in1, out1, out2 = m * IN, m * HIDDEN, m * OUT  # activation elements
    e = k.e_mem
    mul_add = k.e_mul + k.e_add
    rows = {'fc1': {}, 'neuron': {}, 'fc2': {}}

    # 'compute': E_MAC x dense MACs on real input; spikes: E_AC per synaptic op (snn),
    # min(b x E_AC, E_MAC) per dense MAC (qnn), E_MAC per dense MAC (ann)
    fc2_compute = {'snn': k.e_ac * syn2, 'ann': k.e_mac * dense2,
                   'qnn': dense2 * min(bits * k.e_ac, k.e_mac)}
    for s in SYSTEMS:
        rows['fc1'][f'compute/{s}'] = {'compute': k.e_mac * dense1}
        rows['neuron'][f'compute/{s}'] = {'compute': 0.0}
        rows['fc2'][f'compute/{s}'] = {'compute': fc2_compute[s]}

    # 'memory': the same arithmetic + bytes moved x E_mem: a weight per use (snn on spikes:
    # per synaptic op), a bias per output, input read once, output written once, the neuron's
    # input read and output written once, its state (B x HIDDEN float32) read and written per step
    bias1 = out1 * 4 if bias else 0.0
    bias2 = out2 * 4 if bias else 0.0
    neuron_out_bits = {'snn': spike_bits, 'qnn': bits, 'ann': 32}
    fc2_in_bits = {'snn': spike_bits, 'qnn': bits, 'ann': 32}
    for s in SYSTEMS:
        rows['fc1'][f'memory/{s}'] = {
            'compute': k.e_mac * dense1, 'params': (dense1 * 4 + bias1) * e, 'state': 0.0,
            'activations': (in1 * 4 + out1 * 4) * e}
        rows['neuron'][f'memory/{s}'] = {
            'compute': 0.0, 'params': 0.0,
            'state': 2 * T * B * HIDDEN * 4 * e if s == 'snn' else 0.0,
            'activations': out1 * (32 + neuron_out_bits[s]) / 8 * e}
        uses = syn2 if s == 'snn' else dense2
        rows['fc2'][f'memory/{s}'] = {
            'compute': fc2_compute[s], 'params': (uses * 4 + bias2) * e, 'state': 0.0,
            'activations': (out1 * fc2_in_bits[s] / 8 + out2 * 4) * e}

    # 'lemaire': 32-bit words, an access to a buffer of S bytes costs sram(S) per byte
    sram = k.sram
    params1 = (IN * HIDDEN + (HIDDEN if bias else 0)) * WORD
    params2 = (HIDDEN * OUT + (OUT if bias else 0)) * WORD
    fifo = k.fifo_words * WORD
    for s in SYSTEMS:
        # fc1, real input: dense multiply-adds, inputs + outputs addressed, inputs read once,
        # every weight use read; outputs written only where there are no neurons (ann, qnn)
        memory = in1 * WORD * sram(in1 * WORD) + dense1 * WORD * sram(params1)
        if s != 'snn':
            memory += out1 * WORD * sram(out1 * WORD)
        ops = dense1 * mul_add
        if bias:
            ops += out1 * k.e_add
            memory += out1 * WORD * sram(params1)
        rows['fc1'][f'lemaire/{s}'] = {'ops': ops, 'addressing': (in1 + out1) * k.e_add,
                                       'memory': memory}
        # the neuron (snn only): membrane read + written per neuron-step (buffer: one step),
        # one add per spike, a multiply-add per neuron-step (leak), every spike to the FIFO
        if s == 'snn':
            rows['neuron'][f'lemaire/{s}'] = {
                'ops': n * k.e_add + out1 * mul_add, 'addressing': 0.0,
                'memory': 2 * out1 * WORD * sram(B * HIDDEN * WORD) + n * WORD * sram(fifo)}
        else:
            rows['neuron'][f'lemaire/{s}'] = {'ops': 0.0, 'addressing': 0.0, 'memory': 0.0}
        # fc2 on spikes (snn): per spike OUT adds, OUT addresses, one FIFO read, OUT weight
        # reads, OUT membrane reads and as many writes (buffer: the output)
        if s == 'snn':
            ops, addressing = n * OUT * k.e_add, n * OUT * k.e_add
            memory = (n * WORD * sram(fifo) + n * OUT * WORD * sram(params2)
                      + 2 * n * OUT * WORD * sram(out2 * WORD))
        else:
            per_mac = min(bits * k.e_add, mul_add) if s == 'qnn' else mul_add
            word = WORD * bits / 32 if s == 'qnn' else WORD
            ops, addressing = dense2 * per_mac, (out1 + out2) * k.e_add
            memory = (out1 * word * sram(out1 * WORD) + dense2 * WORD * sram(params2)
                      + out2 * WORD * sram(out2 * WORD))
        if bias:
            ops += out2 * k.e_add
            memory += out2 * WORD * sram(params2)
        rows['fc2'][f'lemaire/{s}'] = {'ops': ops, 'addressing': addressing, 'memory': memory}
    return rows, n, dense1, syn2


def as_mj(parts):
    return {name: pj / PJ_PER_MJ for name, pj in parts.items()}


def total(rows, key):
    parts = {}
    for row in rows.values():
        for name, pj in row[key].items():
            parts[name] = parts.get(name, 0.0) + pj
    return parts


CASES = [  # neuron, bias, qnn_bits (None: the default), constants
    ('lif', True, None, DEFAULT), ('lif', False, None, DEFAULT),
    ('ilif', True, None, DEFAULT), ('ilif', False, None, DEFAULT),
    ('lif', True, 4, DEFAULT), ('ilif', True, 6, CUSTOM), ('lif', False, 2, CUSTOM)]


CASE_IDS = [f'{kind}-bias{int(bias)}-bits{bits}-{"custom" if k is CUSTOM else "default"}'
            for kind, bias, bits, k in CASES]


@pytest.mark.parametrize('kind,bias,qnn_bits,constants', CASES, ids=CASE_IDS)
def test_snn_ann_qnn_of_two_layers_equal_hand_counts(kind, bias, qnn_bits, constants):
    net, x = two_layer(kind, bias)
    kwargs = counter_kwargs(constants)
    report = estimate_energy(net, x, qnn_bits=qnn_bits, **kwargs)
    # the QNN of equal capacity: 1 bit for binary spikes, ceil(log2(4 + 1)) = 3 bits for I-LIF
    # with D = 4; qnn_bits overrides it
    default_bits = 1 if kind == 'lif' else 3
    bits = default_bits if qnn_bits is None else qnn_bits
    assert report.qnn_bits == bits
    rows, spikes, dense1, syn2 = hand_counts(net, x, bits, default_bits, constants)
    rate = spikes / (T * B * HIDDEN)
    assert 0.05 < rate < 0.9, f'the neuron should fire at a moderate rate, got {rate}'
    if kind == 'ilif':
        assert net.neuron(net.fc1(x)).max() > 1, 'I-LIF should emit integer spikes above 1'
        reset_neurons(net)

    by_name = {row.name: row for row in report.layers}
    assert {name: row.kind for name, row in by_name.items()} == {
        'fc1': 'synaptic', 'neuron': 'neuron', 'fc2': 'synaptic'}
    for model in MODELS:
        for system in SYSTEMS:
            key = f'{model}/{system}'
            for name, expected in rows.items():
                got = by_name[name].breakdown(model, system).parts
                assert got == pytest.approx(as_mj(expected[key]), rel=1e-9, abs=1e-18), \
                    f'{name} {key}'
            expected = as_mj(total(rows, key))
            got = report.breakdown(model, system)
            assert set(got.parts) == set(PARTS[model])
            assert got.parts == pytest.approx(expected, rel=1e-9, abs=1e-18), key
            memory = sum(expected[p] for p in PARTS[model] if p in (
                'params', 'state', 'activations') or (model == 'lemaire' and p == 'memory'))
            assert got.total == pytest.approx(sum(expected.values()), rel=1e-9)
            assert got.memory == pytest.approx(memory, rel=1e-9, abs=1e-18)
            assert got.compute == pytest.approx(sum(expected.values()) - memory, rel=1e-9)
            assert report.total_mj(model, system) == pytest.approx(got.total, rel=1e-12)
        snn = sum(total(rows, f'{model}/snn').values())
        assert report.ratios(model) == pytest.approx(
            {s: sum(total(rows, f'{model}/{s}').values()) / snn for s in ('ann', 'qnn')},
            rel=1e-9)

    # the default energy_mj is the papers' E_MAC x MACs + E_AC x ACs
    assert report.energy_model == 'compute'
    assert (report.mac, report.ac, report.dense_mac) == (dense1, syn2, dense1 + T * B * HIDDEN
                                                         * OUT)
    e_mac, e_ac = constants.e_mac, constants.e_ac
    assert report.energy_mj == pytest.approx((e_mac * report.mac + e_ac * report.ac) / 1e9,
                                             rel=1e-12)
    assert report.energy_mj == pytest.approx(report.total_mj('compute'), rel=1e-12)
    # another energy_model makes energy_mj that model's SNN total (the counts stay the same)
    for model in ('memory', 'lemaire'):
        other = estimate_energy(net, x, energy_model=model, qnn_bits=qnn_bits, **kwargs)
        assert other.energy_model == model and (other.mac, other.ac) == (report.mac, report.ac)
        assert other.energy_mj == pytest.approx(sum(total(rows, f'{model}/snn').values())
                                                / PJ_PER_MJ, rel=1e-9)
        assert other.breakdown().model == model


def test_memory_model_does_not_depend_on_the_neuron_backend():
    """The same neurons give the same spikes with the compiled kernel ('fused') and with the
    PyTorch loop ('reference'); every model must give them the same energy.  The loop's own
    element-wise operations (charge, fire, reset) run inside the neuron: 'lemaire' charges a
    neuron by its formula and skips them, 'memory' must do the same."""
    net, x = two_layer('lif', True)
    reports = {}
    for backend in ('fused', 'reference'):
        net.neuron.backend = backend
        reports[backend] = estimate_energy(net, x)
    net.neuron.backend = 'fused'
    assert reports['fused'].ac == reports['reference'].ac
    for model in MODELS:
        for system in SYSTEMS:
            fused = reports['fused'].breakdown(model, system).parts
            reference = reports['reference'].breakdown(model, system).parts
            assert reference == pytest.approx(fused, rel=1e-9), (
                f'{model}/{system}: the reference loop adds '
                f'{ {p: reference[p] - fused[p] for p in fused if reference[p] != fused[p]} } mJ')


# -- 2. 'lemaire' against spikingjelly 2.0 ---------------------------------------------------
def spikingjelly_net(spiking=True):
    """conv -> LIF -> conv (stride 2) -> LIF -> linear on [B, 2, 16, 16], spikingjelly's
    single-step LIFNode, flattened in forward (spikingjelly's strict check accepts only Conv,
    Linear, IF and LIF leaves); ``spiking=False``: the same weights with F.relu (the ANN)."""
    from spikingjelly.activation_based import neuron

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
            self.lif1 = neuron.LIFNode() if spiking else None
            self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
            self.lif2 = neuron.LIFNode() if spiking else None
            self.fc = nn.Linear(8 * 8 * 8, 10)

        def act(self, layer, x):
            return layer(x) if spiking else torch.relu(x)

        def forward(self, x):
            x = self.act(self.lif2, self.conv2(self.act(self.lif1, self.conv1(x))))
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():  # large enough that both neuron layers fire
        net.conv1.weight.normal_(0.0, 1.0)
        net.conv2.weight.normal_(0.1, 0.5)
    return net


def test_lemaire_equals_spikingjelly_estimate_lemaire_energy():
    pytest.importorskip('spikingjelly.activation_based.op_counter',
                        reason='spikingjelly 2.0 (op_counter) is needed for the reference figure')
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.op_counter import estimate_lemaire_energy
    net = spikingjelly_net()
    x = torch.rand(2, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    functional.reset_net(net)
    theirs = estimate_lemaire_energy(net, x)
    functional.reset_net(net)
    ours = estimate_energy(net, x, energy_model='lemaire')
    by_name = {row.name: row for row in ours.layers}
    for name in ('conv2', 'fc'):  # both neuron layers fired
        assert 0.05 < by_name[name].input_rate < 0.95, (name, by_name[name].input_rate)
    parts = {name: mj * PJ_PER_MJ for name, mj in ours.breakdown('lemaire').parts.items()}
    print(f'\nLemaire, conv-LIF-conv-LIF-linear: spikingjelly {theirs.total_pj:.1f} pJ '
          f'{ {k: round(theirs.breakdown_pj[k + "_pj"], 1) for k in parts} }; mmspike '
          f'{ours.energy_mj * PJ_PER_MJ:.1f} pJ { {k: round(v, 1) for k, v in parts.items()} }')
    assert ours.energy_mj * PJ_PER_MJ == pytest.approx(theirs.total_pj, rel=0.01)
    for name in ('ops', 'addressing', 'memory'):
        assert parts[name] == pytest.approx(theirs.breakdown_pj[f'{name}_pj'], rel=0.01), name

    # the ANN baseline is the same network with real activations: spikingjelly's estimate on
    # the ReLU twin (no neurons: dense layers, outputs written back)
    ann = spikingjelly_net(spiking=False)
    theirs_ann = estimate_lemaire_energy(ann, x)
    ours_ann = ours.breakdown('lemaire', 'ann')
    print(f'Lemaire ANN: spikingjelly (ReLU twin) {theirs_ann.total_pj:.1f} pJ; mmspike '
          f'{ours_ann.total * PJ_PER_MJ:.1f} pJ')
    assert ours_ann.total * PJ_PER_MJ == pytest.approx(theirs_ann.total_pj, rel=0.01)
    for name in ('ops', 'addressing', 'memory'):
        assert ours_ann.parts[name] * PJ_PER_MJ == pytest.approx(
            theirs_ann.breakdown_pj[f'{name}_pj'], rel=0.01), name


# -- 3. 'lemaire' on every backbone and task model, no layer left out --------------------------
def check_lemaire_coverage(model, report):
    """Every Conv/Linear module and spiking neuron of ``model`` has a row with a positive
    Lemaire energy, every BatchNorm a (folded) element-wise row, and the rows add up to the
    total."""
    rows = {row.name: row for row in report.layers}
    for name, module in model.named_modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) or \
                is_spiking_neuron(module):
            assert name in rows, f'{name} ({type(module).__name__}) has no row'
            energy = rows[name].breakdown('lemaire').total
            assert energy > 0, f'{name} ({type(module).__name__}): Lemaire energy {energy}'
            if rows[name].kind == 'synaptic':
                assert rows[name].breakdown('lemaire', 'ann').total > 0, name
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            owners = {name, name.rpartition('.')[0]}  # itself, or a per-time-step wrapper
            norm_rows = [r for r in report.layers if r.kind == 'elementwise'
                         and r.name[:-len('[elementwise]')] in owners]
            assert any(r.breakdown('lemaire').total > 0 for r in norm_rows), \
                f'{name}: no Lemaire energy for its BatchNorm'
    total = report.total_mj('lemaire')
    assert report.energy_mj == total > 0
    assert sum(row.breakdown('lemaire').total for row in report.layers) == \
        pytest.approx(total, rel=1e-9)
    for system in ('ann', 'qnn'):
        assert sum(row.breakdown('lemaire', system).total for row in report.layers) == \
            pytest.approx(report.total_mj('lemaire', system), rel=1e-9)
    return rows


def neuron_types(model):
    return {type(m).__name__ for m in model.modules() if is_spiking_neuron(m)}


def report_line(name, model, report):
    print(f'\n{name}: neurons {sorted(neuron_types(model))}, Lemaire {report.energy_mj:.4f} mJ '
          f'(ANN x{report.ratios()["ann"]:.2f}, QNN {report.qnn_bits}-bit '
          f'x{report.ratios()["qnn"]:.2f}), firing rate {report.firing_rate:.3f}')


BACKBONES = {
    'SVFormer': (dict(type='SVFormer', arch='tiny', num_frames=4, img_size=64), 'MultiStepPLIF'),
    'SpikeVideoFormer': (dict(type='SpikeVideoFormer', arch='tiny', num_frames=4),
                         'MultiStepLIF'),
    'SpikeVideoFormer-ILIF': (dict(type='SpikeVideoFormer', arch='tiny', num_frames=4,
                                   neuron_cfg=dict(type='ILIF')), 'MultiStepILIF'),
    'SpikingConvNet': (dict(type='SpikingConvNet', arch='tiny'), 'MultiStepPLIF'),
}


@pytest.fixture(scope='module')
def clip():
    return torch.rand(1, 3, 4, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize('name', list(BACKBONES))
def test_lemaire_covers_every_layer_of_every_backbone(name, clip):
    from mmspike.registry import MODELS as REGISTRY
    cfg, neuron = BACKBONES[name]
    torch.manual_seed(0)
    model = REGISTRY.build(dict(cfg))
    # the statistics of this clip in the BatchNorms, so that every neuron layer fires (a silent
    # neuron leaves the next layer nothing to do under Lemaire's event-driven formulas)
    calibrate_batch_norms(model, lambda: model(clip))
    reset_neurons(model)
    assert neuron_types(model) == {neuron}
    report = estimate_energy(model, clip, energy_model='lemaire')
    report_line(name, model, report)
    check_lemaire_coverage(model, report)
    assert report.qnn_bits == (3 if neuron == 'MultiStepILIF' else 1)  # I-LIF's D = 4


def task_model(config, size):
    """The config's model (random weights) with BatchNorm statistics of one random clip, and
    that clip preprocessed."""
    from mmspike.apis import init_model, load_config
    torch.manual_seed(0)
    model = init_model(load_config(osp.join(REPO, 'configs', config)))
    frames = model.backbone.num_frames
    raw = torch.randint(0, 256, (1, 3, frames, size, size), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(1))
    inputs = model.data_preprocessor(dict(inputs=raw))['inputs']
    calibrate_batch_norms(model, lambda: model(inputs, None, mode='tensor'))
    return model, inputs


@pytest.mark.parametrize('config,package,size,neuron', [
    ('spikevideoformer_pose_demo.py', 'mmpose', 64, 'MultiStepILIF'),
    ('spikevideoformer_seg_demo.py', 'mmseg', 48, 'MultiStepLIF')])
def test_lemaire_covers_every_layer_of_the_task_models(config, package, size, neuron):
    pytest.importorskip(package, reason=f'{config} needs {package}')
    model, inputs = task_model(config, size)
    assert neuron_types(model) == {neuron}  # pose: I-LIF (D = 4); segmentation: binary LIF
    reset_neurons(model)
    with EnergyCounter(model, energy_model='lemaire') as counter, torch.no_grad():
        model(inputs, None, mode='tensor')
    report = counter.report()
    report_line(type(model).__name__, model, report)
    check_lemaire_coverage(model, report)
    assert report.qnn_bits == (3 if neuron == 'MultiStepILIF' else 1)
