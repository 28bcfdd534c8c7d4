"""Count MACs and ACs of a real forward pass, per layer: :class:`EnergyCounter`,
:func:`estimate_energy`.

The counter watches the operators PyTorch actually executes (a ``TorchDispatchMode``), so it
sees ``nn.Conv*``/``nn.Linear`` layers, ``F.conv*``/``F.linear`` calls and the matrix products of
attention alike, in any ``nn.Module``.  Each counted operator is attributed to the innermost
module that was running it: a Conv/Linear module gets a row of its own; other operators get a
row named ``<module>.<op>#<i>`` (``i`` = order within that module).  See
:mod:`mmspike.energy.ops` for the counting convention.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from math import prod
from typing import Optional

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..neurons.stateful import is_spiking_neuron, reset_neurons
from ..ops.spike_pack import spike_bits
from .models import (ENERGY_MODELS, SYSTEMS, ElementwiseOp, EnergyBreakdown, EnergyCosts,
                     NeuronOp, SynapticOp, check_energy_model, op_energy, qnn_bits_for,
                     uses_more)
from .ops import conv_dense_macs, conv_synaptic_ops, is_spike_tensor, matmul_counts

aten = torch.ops.aten

#: Energy per operation in pJ (Horowitz, ISSCC 2014, 45 nm): (E_MAC, E_AC).
ENERGY_PRESETS = {
    'fp32': (4.6, 0.9),   # FP32 mult 3.7 + add 0.9
    'fp16': (1.5, 0.4),   # FP16 mult 1.1 + add 0.4
    'int8': (0.23, 0.03),  # INT8 mult 0.2 + add 0.03
}

_LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                nn.ConvTranspose3d, nn.Linear)
_MATMUL_OPS = {aten.mm.default: 'mm', aten.bmm.default: 'bmm',
               aten.addmm.default: 'addmm', aten.baddbmm.default: 'baddbmm'}
_PJ_PER_MJ = 1e9
# Optional extra operations (count_elementwise=True), counted the way spikingjelly 2.0's
# simple energy model counts them: normalisation, element-wise add/sub, reductions, avg pooling.
_NORM_OPS = (aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default,
             aten._native_batch_norm_legit.default)
# ``x * scale + shift`` with per-channel scale and shift: the eval form of mmspike's per-time-step
# BatchNorm (mmspike.ops.temporal_norm), counted like a BatchNorm in eval mode
_AFFINE_OPS = (aten.addcmul.default, )
_ADD_OPS = tuple(getattr(aten, name).Tensor for name in ('add', 'add_', 'sub', 'sub_')) + \
    tuple(getattr(aten, name).Scalar for name in ('add', 'sub', 'rsub')) + \
    (aten.add_.Scalar, aten.sub_.Scalar, aten.rsub.Tensor)
_REDUCE_OPS = (aten.sum.default, aten.sum.dim_IntList, aten.mean.default, aten.mean.dim)
_POOL_OPS = (aten.avg_pool2d.default, aten.avg_pool3d.default)


def spike_value_range(model: nn.Module) -> int:
    """The largest spike value ``model``'s neurons emit: the largest ``max_spike_value`` of its
    spiking neurons (:func:`~mmspike.neurons.is_spiking_neuron`; an integer neuron's ``D``, e.g.
    :class:`~mmspike.neurons.MultiStepILIF`'s ``levels``), else 1 (binary spikes)."""
    return max((int(getattr(m, 'max_spike_value', 1)) for m in model.modules()
                if is_spiking_neuron(m)), default=1)


def uncounted():
    """Context in which operators are invisible to every active :class:`EnergyCounter` (and to
    any other Python dispatch mode): for bookkeeping done inside forward hooks."""
    return torch._C._ExcludeDispatchKeyGuard(
        torch._C.DispatchKeySet(torch._C.DispatchKey.Python))


def resolve_energy_costs(e_mac_pj=None, e_ac_pj=None, preset='fp32'):
    """``(E_MAC, E_AC)`` in pJ: the ``preset`` values unless overridden."""
    if preset not in ENERGY_PRESETS:
        raise ValueError(f'unknown energy preset {preset!r}; expected one of '
                         f'{sorted(ENERGY_PRESETS)}')
    default_mac, default_ac = ENERGY_PRESETS[preset]
    e_mac = default_mac if e_mac_pj is None else float(e_mac_pj)
    e_ac = default_ac if e_ac_pj is None else float(e_ac_pj)
    if e_mac < 0 or e_ac < 0:
        raise ValueError(f'energy per operation must be >= 0, got E_MAC={e_mac}, E_AC={e_ac}')
    return e_mac, e_ac


@dataclass
class LayerEnergy:
    """One row of an energy report (totals over every call of the layer).

    ``energy_mj`` is the ``'compute'`` model's energy of the spiking network (the papers'
    convention); ``energy_pj`` holds every model's parts for the network and its baselines,
    keyed ``'<model>/<system>/<part>'`` (:mod:`mmspike.energy.models`)."""

    name: str
    type: str
    calls: int = 0
    dense_macs: int = 0  # MACs an ANN would do for the same shapes
    macs: int = 0  # MACs charged (real-valued input)
    acs: int = 0  # accumulates charged (spike input)
    input_nonzero: int = 0  # a neuron row: the non-zero outputs (its firing rate)
    input_elements: int = 0
    spike_input: bool = False
    energy_mj: float = 0.0
    kind: str = 'synaptic'  # 'synaptic', 'neuron' or 'elementwise'
    energy_pj: dict = field(default_factory=dict)

    @property
    def input_rate(self) -> float:
        return self.input_nonzero / self.input_elements if self.input_elements else 0.0

    def breakdown(self, model: str = 'compute', system: str = 'snn') -> EnergyBreakdown:
        """This layer's parts (mJ) under ``model`` for ``system`` ('snn', 'ann', 'qnn')."""
        return _breakdown(self.energy_pj, model, system)

    def as_dict(self) -> dict:
        row = asdict(self)
        row.pop('energy_pj')
        row['input_rate'] = self.input_rate
        return row


def _add_parts(target: dict, energies: dict) -> None:
    """Adds :func:`~mmspike.energy.models.op_energy`'s ``{group: {part: pJ}}`` to ``target``
    under the keys ``'<group>/<part>'``."""
    for group, parts in energies.items():
        for part, pj in parts.items():
            key = f'{group}/{part}'
            target[key] = target.get(key, 0.0) + pj


def _breakdown(energy_pj: dict, model: str, system: str) -> EnergyBreakdown:
    """The parts (mJ) of ``model`` for ``system`` among ``'<model>/<system>/<part>'`` pJ."""
    model = check_energy_model(model)
    if system not in SYSTEMS:
        raise ValueError(f'unknown system {system!r}; expected one of {list(SYSTEMS)}')
    prefix = f'{model}/{system}/'
    return EnergyBreakdown(model, system, {key[len(prefix):]: pj / _PJ_PER_MJ
                                           for key, pj in energy_pj.items()
                                           if key.startswith(prefix)})


@dataclass
class EnergyReport:
    """Result of :func:`estimate_energy` / :class:`EnergyCounter` (totals for the whole input).

    ``energy_mj`` is the energy under ``energy_model`` (``'compute'``: ``E_MAC x MACs + E_AC x
    ACs``, the papers' figure); :meth:`breakdown` gives any model's parts for the spiking
    network and its ANN / QNN baselines, :meth:`ratios` the baselines' energy over the SNN's."""

    mac: int
    ac: int
    dense_mac: int
    energy_mj: float
    mac_energy_mj: float
    ac_energy_mj: float
    e_mac_pj: float
    e_ac_pj: float
    firing_rate: float  # spikes / neuron-steps over all spiking neuron layers (nan if none)
    layers: list = field(default_factory=list)
    energy_model: str = 'compute'
    qnn_bits: int = 1
    energy_pj: dict = field(default_factory=dict)  # '<model>/<system>/<part>' -> pJ, all rows

    def breakdown(self, model: Optional[str] = None, system: str = 'snn') -> EnergyBreakdown:
        """Parts (mJ) of ``model`` (default: the report's ``energy_model``) for ``system``:
        ``'snn'`` (the network), ``'ann'`` (the same network with real-valued activations,
        dense MACs) or ``'qnn'`` (``qnn_bits``-bit activations)."""
        return _breakdown(self.energy_pj, model or self.energy_model, system)

    def total_mj(self, model: Optional[str] = None, system: str = 'snn') -> float:
        return self.breakdown(model, system).total

    def ratios(self, model: Optional[str] = None) -> dict:
        """``{'ann': E_ann / E_snn, 'qnn': E_qnn / E_snn}`` under ``model`` (> 1: the spiking
        network uses less energy)."""
        snn = self.total_mj(model)
        return {system: (self.total_mj(model, system) / snn if snn > 0 else float('nan'))
                for system in ('ann', 'qnn')}

    def scaled(self, factor: float) -> 'EnergyReport':
        """A copy with every count and energy multiplied by ``factor`` (e.g. ``1 / clips``
        for figures per clip); the firing rate and input rates stay."""
        def scale_row(row):
            return replace(row, dense_macs=row.dense_macs * factor, macs=row.macs * factor,
                           acs=row.acs * factor, energy_mj=row.energy_mj * factor,
                           energy_pj={k: v * factor for k, v in row.energy_pj.items()})
        return replace(self, mac=self.mac * factor, ac=self.ac * factor,
                       dense_mac=self.dense_mac * factor, energy_mj=self.energy_mj * factor,
                       mac_energy_mj=self.mac_energy_mj * factor,
                       ac_energy_mj=self.ac_energy_mj * factor,
                       layers=[scale_row(row) for row in self.layers],
                       energy_pj={k: v * factor for k, v in self.energy_pj.items()})

    def summary(self) -> dict:
        """Every model's totals: ``{model: {'snn': {part: mJ, ..., 'total': mJ}, 'ann': ...,
        'qnn': ..., 'ann_ratio': x, 'qnn_ratio': x}}``."""
        out = {}
        for model in ENERGY_MODELS:
            out[model] = {system: dict(self.breakdown(model, system).parts,
                                       total=self.total_mj(model, system))
                          for system in SYSTEMS}
            out[model].update({f'{k}_ratio': v for k, v in self.ratios(model).items()})
        return out

    def as_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ('layers', 'energy_pj')}
        data['models'] = self.summary()
        data['layers'] = [row.as_dict() for row in self.layers]
        return data

    def table(self, model: Optional[str] = None) -> str:
        """The per-layer table as fixed-width text: counts, then the energy under ``model``
        (default: the report's) split into compute and memory, the QNN's, and ``<`` where the
        spiking layer uses more energy than its QNN."""
        model = check_energy_model(model or self.energy_model)
        header = (f'{"layer":<44} {"type":<10} {"MACs(dense)":>13} {"in rate":>7} '
                  f'{"MACs":>13} {"ACs":>13} {"compute mJ":>10} {"memory mJ":>10} '
                  f'{"mJ":>9} {"QNN mJ":>9}')
        lines = [f'energy model: {model}', header, '-' * len(header)]

        def line(name, kind, dense, rate, macs, acs, snn, qnn):
            loses = '<' if uses_more(snn.total, qnn.total) else ' '
            return (f'{name[-44:]:<44} {kind[:10]:<10} {dense:>13,.0f} {rate:>7} {macs:>13,.0f} '
                    f'{acs:>13,.0f} {snn.compute:>10.5f} {snn.memory:>10.5f} {snn.total:>9.5f} '
                    f'{qnn.total:>9.5f}{loses}')
        for row in self.layers:
            rate = f'{row.input_rate:.4f}' if row.kind == 'synaptic' else ''
            lines.append(line(row.name, row.type, row.dense_macs, rate, row.macs, row.acs,
                              row.breakdown(model), row.breakdown(model, 'qnn')))
        lines.append('-' * len(header))
        lines.append(line('total', '', self.dense_mac, '', self.mac, self.ac,
                          self.breakdown(model), self.breakdown(model, 'qnn')))
        ratios = self.ratios(model)
        lines.append(f'ANN: {self.total_mj(model, "ann"):.5f} mJ (x{ratios["ann"]:.2f} the '
                     f'SNN); QNN ({self.qnn_bits}-bit activations): '
                     f'{self.total_mj(model, "qnn"):.5f} mJ (x{ratios["qnn"]:.2f}); '
                     '< marks layers that use more energy than in the QNN')
        return '\n'.join(lines)


class EnergyCounter(TorchDispatchMode):
    """Context manager that counts MACs/ACs of everything ``model`` runs inside it, and the
    energy of every model of the hardware (:mod:`mmspike.energy.models`).

    Example::

        with EnergyCounter(model) as counter, torch.no_grad():
            model(x)
        report = counter.report()

    Args:
        model (nn.Module): the model whose submodule names label the rows.
        e_mac_pj, e_ac_pj (float, optional): energy per MAC / AC in pJ; default from ``preset``.
        preset (str): 'fp32' (4.6 / 0.9 pJ), 'fp16' (1.5 / 0.4) or 'int8' (0.23 / 0.03).
        max_spike_value (int, optional): activations with integer values in
            ``[0, max_spike_value]`` count as spikes (1: binary spikes only).  An integer spike
            of value ``s`` is charged as ``s`` binary spikes (the D binary sub-steps of I-LIF,
            the paper's convention).  Defaults to None: :func:`spike_value_range` (the largest
            ``max_spike_value`` of the model's neurons, e.g. I-LIF's ``levels``), else 1.
        count_elementwise (bool): also count normalisation (eval: ``numel`` MACs for the affine
            part + ``numel + C`` ACs), element-wise additions/subtractions (one AC per output
            element), reductions and average pooling in the ``'compute'`` model, as
            spikingjelly's ``estimate_simple_energy`` does (``'memory'`` always counts them).
            Off by default: the usual SNN convention counts synaptic operations only.
        energy_model (str): the model of :attr:`EnergyReport.energy_mj`: ``'compute'``
            (default), ``'memory'`` or ``'lemaire'``. Every model is counted either way.
        costs (EnergyCosts, optional): the other models' constants (memory pJ per byte,
            Lemaire's); its ``e_mac_pj`` / ``e_ac_pj`` are replaced by the ones above.
        qnn_bits (int, optional): activation bits of the QNN baseline; default
            :func:`~mmspike.energy.models.qnn_bits_for` the spike range (1 bit for binary
            neurons, ``ceil(log2(D + 1))`` for integer ones).
    """

    def __init__(self, model: nn.Module, e_mac_pj=None, e_ac_pj=None, preset='fp32',
                 max_spike_value=None, count_elementwise=False, energy_model='compute',
                 costs: Optional[EnergyCosts] = None, qnn_bits: Optional[int] = None):
        super().__init__()
        self.model = model
        if max_spike_value is None:
            max_spike_value = spike_value_range(model)
        self.e_mac_pj, self.e_ac_pj = resolve_energy_costs(e_mac_pj, e_ac_pj, preset)
        self.max_spike_value = int(max_spike_value)
        self.count_elementwise = bool(count_elementwise)
        self.energy_model = check_energy_model(energy_model)
        bits = qnn_bits_for(self.max_spike_value) if qnn_bits is None else int(qnn_bits)
        self.costs = replace(costs or EnergyCosts(), e_mac_pj=self.e_mac_pj,
                             e_ac_pj=self.e_ac_pj, qnn_bits=bits)
        self.spike_bits = float(spike_bits(self.max_spike_value))
        self.has_neurons = any(is_spiking_neuron(m) for m in model.modules())
        self.rows: dict[str, LayerEnergy] = {}
        self.spikes = 0.0
        self.neuron_steps = 0
        self._stack = []  # [module name, module, number of ops seen in this call]
        self._neuron_depth = 0
        self._handles = []
        self._param_storages = set()

    # -- module tracking -------------------------------------------------------------------
    def _push(self, name):
        def hook(module, args):
            self._stack.append([name, module, 0])
        return hook

    def _pop(self, module, args, output):
        if self._stack and self._stack[-1][1] is module:
            self._stack.pop()

    def _enter_neuron(self, module, args):
        self._neuron_depth += 1

    def _neuron_done(self, name):
        def hook(module, args, output):
            self._neuron_depth = max(0, self._neuron_depth - 1)
            if torch.is_tensor(output):
                with uncounted():
                    self._record_neuron(name, module, args, output)
        return hook

    def __enter__(self):
        self._stack = []
        self._neuron_depth = 0
        self._param_storages = {p.untyped_storage().data_ptr() for p in self.model.parameters()}
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._push(name)))
            self._handles.append(module.register_forward_hook(self._pop, always_call=True))
            if is_spiking_neuron(module):
                self._handles.append(module.register_forward_pre_hook(self._enter_neuron))
                self._handles.append(module.register_forward_hook(self._neuron_done(name),
                                                                  always_call=True))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []
            self._stack = []
            self._neuron_depth = 0

    def reset(self):
        """Forget everything counted so far."""
        self.rows = {}
        self.spikes = 0.0
        self.neuron_steps = 0

    # -- operator counting -------------------------------------------------------------------
    def _row(self, op_name: str, elementwise: bool = False) -> LayerEnergy:
        if elementwise:  # one row per module for everything element-wise it runs
            name = self._stack[-1][0] if self._stack else ''
            key = f'{name}[elementwise]' if name else '[elementwise]'
            if key not in self.rows:
                self.rows[key] = LayerEnergy(name=key, type='elementwise', kind='elementwise')
            return self.rows[key]
        if self._stack:
            frame = self._stack[-1]
            name, module = frame[0], frame[1]
            if isinstance(module, _LAYER_TYPES):
                key, kind = name, type(module).__name__
            else:
                key, kind = f'{name}.{op_name}#{frame[2]}' if name else f'{op_name}#{frame[2]}', \
                    op_name
                frame[2] += 1
        else:
            key, kind = op_name, op_name
        if key not in self.rows:
            self.rows[key] = LayerEnergy(name=key, type=kind)
        return self.rows[key]

    def _spikes(self, x):
        return is_spike_tensor(x, self.max_spike_value)

    def _is_param(self, x) -> bool:
        return x.untyped_storage().data_ptr() in self._param_storages

    def _bits(self, x, spikes: bool) -> float:
        return self.spike_bits if spikes else float(x.element_size() * 8)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        with uncounted():  # the counting itself must stay invisible to nested counters
            self._record(func, args, kwargs, out)
        return out

    def _record(self, func, args, kwargs, out):
        if func is aten.convolution.default:
            self._record_conv(args, out)
        elif func in _MATMUL_OPS:
            self._record_matmul(func, args, kwargs, out)
        else:
            self._record_elementwise(func, args, out)

    def _charge(self, row: LayerEnergy, op) -> None:
        _add_parts(row.energy_pj, op_energy(op, self.costs, self.has_neurons,
                                            self.count_elementwise))

    def _record_elementwise(self, func, args, out):
        if self._neuron_depth > 0:
            # a neuron's own update: charged by the neuron's row (state traffic, Lemaire's
            # formula), the same whether its backend runs these operators or a compiled kernel
            return
        foldable, channels = False, 0
        if func in _NORM_OPS:
            x, weight = args[0], args[1]
            training = func is aten._native_batch_norm_legit.default or (
                func is aten.native_batch_norm.default and args[5])
            n, channels = x.numel(), x.shape[1]
            macs = n if weight is not None else 0
            acs = 3 * n + 2 * channels if training else n + channels
            foldable, kind = not training, 'norm'
        elif func in _AFFINE_OPS and self._stack and args[1].dim() >= 2:
            n, channels = out.numel(), args[2].numel()
            macs, acs, foldable, kind = n, n + channels, True, 'norm'
        elif func in _ADD_OPS:
            result = out if torch.is_tensor(out) else args[0]
            n = result.numel()
            macs, acs, kind = 0, n, 'add'
        elif func in _REDUCE_OPS:
            n = args[0].numel()
            macs, acs, kind = 0, n - out.numel(), 'sum'
        elif func in _POOL_OPS:
            kernel = args[1] if len(args) > 1 else ()
            kernel = [kernel] * (out.dim() - 2) if isinstance(kernel, int) else list(kernel)
            if len(kernel) == 1:
                kernel = kernel * (out.dim() - 2)
            per_output = max(1, int(torch.tensor(kernel).prod()))
            n = out.numel()
            macs, acs, kind = 0, n * (per_output - 1), 'avg_pool'
        else:
            return
        row = self._row(kind, elementwise=True)
        row.calls += 1
        if self.count_elementwise:
            row.macs += macs
            row.acs += acs
            row.energy_mj += (macs * self.e_mac_pj + acs * self.e_ac_pj) / _PJ_PER_MJ
        self._charge(row, ElementwiseOp(kind, macs, acs, numel=n, channels=channels,
                                        foldable=foldable))

    def _record_conv(self, args, out):
        x, weight, bias = args[0], args[1], args[2]
        stride, padding, dilation, transposed, output_padding, groups = args[3:9]
        row = self._row('conv')
        if transposed:
            out_per_group, kernel = weight.shape[1], tuple(weight.shape[2:])
            out_channels = out_per_group * groups
            dense_weight = (out_channels, weight.shape[0] // groups, *kernel)
        else:
            out_channels, kernel = weight.shape[0], tuple(weight.shape[2:])
            out_per_group = out_channels // groups
            dense_weight = tuple(weight.shape)
        dense = conv_dense_macs(dense_weight, x.shape if transposed else out.shape)
        spikes = self._spikes(x)
        macs, acs, events = 0, 0, 0.0
        if spikes:
            acs = conv_synaptic_ops(x, weight.shape, stride, padding, dilation, groups,
                                    transposed, output_padding)
            events = float(x.sum(dtype=torch.float64))
        else:
            macs = dense
        self._add(row, dense, macs, acs, x, spikes)
        strides = list(stride) * (len(kernel) // len(stride)) if len(stride) < len(kernel) \
            else list(stride)
        self._charge(row, SynapticOp(
            'conv', dense, spikes, events=events, synaptic_ops=acs,
            weight_is_param=self._is_param(weight), input_numel=x.numel(),
            output_numel=out.numel(), input_bits=self._bits(x, spikes),
            weight_bits=weight.element_size() * 8, value_bits=out.element_size() * 8,
            weight_numel=weight.numel(), bias_numel=0 if bias is None else bias.numel(),
            bias_bits=32 if bias is None else bias.element_size() * 8,
            fanout=int(out_per_group * prod(kernel)),
            lemaire_synops=int(out_per_group * prod(math.ceil(k / s)
                                                   for k, s in zip(kernel, strides))),
            conv_addressing=int(out_channels * prod(kernel))))

    def _record_matmul(self, func, args, kwargs, out):
        bias = None
        if func in (aten.mm.default, aten.bmm.default):
            a, b = args[0], args[1]
        else:
            bias, a, b = args[0], args[1], args[2]
        row = self._row(_MATMUL_OPS[func])
        a_spikes, b_spikes = self._spikes(a), self._spikes(b)
        macs, acs = matmul_counts(a, b, a_spikes, b_spikes)
        dense = matmul_counts(a, b, False, False)[0]
        # the activation operand: the spiking one if any, else the first
        swap = b_spikes and not a_spikes
        activation, other = (b, a) if swap else (a, b)
        spikes = a_spikes or b_spikes
        self._add(row, dense, macs, acs, activation, spikes)
        other_is_param = self._is_param(other)
        fanout = int(a.shape[-2] if swap else b.shape[-1])
        self._charge(row, SynapticOp(
            'linear' if other_is_param else 'matmul', dense, spikes,
            events=float(activation.sum(dtype=torch.float64)) if spikes else 0.0,
            synaptic_ops=acs, both_spikes=a_spikes and b_spikes, weight_is_param=other_is_param,
            input_numel=activation.numel(), output_numel=out.numel(),
            input_bits=self._bits(activation, spikes),
            weight_bits=self._bits(other, a_spikes and b_spikes),
            value_bits=out.element_size() * 8, weight_numel=other.numel(),
            bias_numel=0 if bias is None else bias.numel(),
            bias_bits=32 if bias is None else bias.element_size() * 8,
            fanout=fanout, lemaire_synops=fanout))

    def _record_neuron(self, name, module, args, output):
        spikes = float(output.detach().sum(dtype=torch.float64))
        self.spikes += spikes
        self.neuron_steps += output.numel()
        x = args[0] if args and torch.is_tensor(args[0]) else output
        multi_step = getattr(module, 'step_mode', 'm') == 'm' and output.dim() > 1
        steps = int(output.shape[0]) if multi_step else 1
        state_bytes = sum(t.numel() * t.element_size() for t in _neuron_states(module))
        if not state_bytes:  # a state the counter cannot see: one value per neuron per step
            state_bytes = output.numel() // steps * x.element_size()
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = LayerEnergy(name=name, type=type(module).__name__,
                                                kind='neuron')
        row.calls += 1
        row.input_nonzero += int(output.count_nonzero())
        row.input_elements += output.numel()
        self._charge(row, NeuronOp(
            numel=output.numel(), steps=steps, spikes=spikes,
            state_bytes=state_bytes, input_bits=x.element_size() * 8,
            spike_bits=float(spike_bits(max(1, int(getattr(module, 'max_spike_value', 1))))),
            leak=type(module).__name__ not in ('IFNode', 'MultiStepIFNode')))

    def _add(self, row, dense, macs, acs, activation, spikes):
        row.calls += 1
        row.dense_macs += dense
        row.macs += macs
        row.acs += acs
        row.input_nonzero += int((activation != 0).sum().item())
        row.input_elements += activation.numel()
        row.spike_input = row.spike_input or spikes
        row.energy_mj += (macs * self.e_mac_pj + acs * self.e_ac_pj) / _PJ_PER_MJ

    # -- results -----------------------------------------------------------------------------
    def report(self) -> EnergyReport:
        rows = list(self.rows.values())
        counted = [r for r in rows if r.kind == 'synaptic' or
                   (r.kind == 'elementwise' and self.count_elementwise)]
        mac = sum(r.macs for r in counted)
        ac = sum(r.acs for r in counted)
        mac_mj = mac * self.e_mac_pj / _PJ_PER_MJ
        ac_mj = ac * self.e_ac_pj / _PJ_PER_MJ
        rate = self.spikes / self.neuron_steps if self.neuron_steps else float('nan')
        totals = {}
        for row in rows:
            for key, pj in row.energy_pj.items():
                totals[key] = totals.get(key, 0.0) + pj
        report = EnergyReport(mac=mac, ac=ac, dense_mac=sum(r.dense_macs for r in rows),
                              energy_mj=mac_mj + ac_mj, mac_energy_mj=mac_mj, ac_energy_mj=ac_mj,
                              e_mac_pj=self.e_mac_pj, e_ac_pj=self.e_ac_pj, firing_rate=rate,
                              layers=[replace(r, energy_pj=dict(r.energy_pj)) for r in rows],
                              energy_model=self.energy_model, qnn_bits=self.costs.qnn_bits,
                              energy_pj=totals)
        if self.energy_model != 'compute':
            report.energy_mj = report.total_mj()
        return report


def _neuron_states(module: nn.Module):
    """The state tensors a neuron keeps between steps: mmspike's ``get_state()`` (a tensor or a
    tuple of them), spikingjelly's ``memories()``."""
    if hasattr(module, 'get_state'):
        state = module.get_state()
        states = state if isinstance(state, (tuple, list)) else (state, )
    elif hasattr(module, 'memories'):
        states = tuple(module.memories())
    else:
        states = ()
    return [t for t in states if torch.is_tensor(t)]


def call_model(model: nn.Module, inputs):
    """``model(*inputs)`` for a tuple/list, ``model(**inputs)`` for a dict, else
    ``model(inputs)``."""
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(inputs)


def estimate_energy(model: nn.Module, inputs, e_mac_pj=None, e_ac_pj=None, preset='fp32',
                    max_spike_value=None, count_elementwise=False, reset_states=True,
                    energy_model='compute', costs: Optional[EnergyCosts] = None,
                    qnn_bits: Optional[int] = None) -> EnergyReport:
    """Run ``model`` once on ``inputs`` (no grad) and count its MACs, ACs and energy.

    ``energy_mj`` is the energy under ``energy_model``: ``'compute'`` (default, the papers'
    convention) ``= (E_MAC x MACs + E_AC x ACs) / 1e9``, counted from the tensors that flowed
    (see :mod:`mmspike.energy.ops`); ``'memory'`` adds data movement; ``'lemaire'`` is Lemaire
    et al.'s analytical model (:mod:`mmspike.energy.models`).  Totals are for the whole
    ``inputs`` batch; ``report.breakdown(model, system)`` and ``report.ratios(model)`` give
    every model's parts and the ANN / QNN baselines.

    Args:
        model (nn.Module): any module; spiking neurons are reset before the pass when
            ``reset_states`` (mmspike neurons and spikingjelly memory modules).
        inputs: a tensor, a tuple/list of positional arguments or a dict of keyword arguments.
        e_mac_pj, e_ac_pj (float, optional): energy per MAC / AC in pJ (default: ``preset``).
        preset (str): 'fp32' (default; 4.6 / 0.9 pJ, 45 nm, Horowitz 2014), 'fp16', 'int8'.
        max_spike_value (int, optional): integer activations up to this value count as spikes
            (an integer spike ``s`` as ``s`` binary ones). Defaults to None: the model's largest
            I-LIF ``levels``, else 1.
        count_elementwise (bool): also count normalisation and element-wise operations in
            ``'compute'`` (see :class:`EnergyCounter`).
        energy_model (str): ``'compute'``, ``'memory'`` or ``'lemaire'``.
        costs (EnergyCosts, optional): memory and Lemaire constants.
        qnn_bits (int, optional): the QNN baseline's activation bits.

    Returns:
        EnergyReport: ``mac``, ``ac``, ``dense_mac``, ``energy_mj``, ``firing_rate`` and
        ``layers`` (one :class:`LayerEnergy` per layer: name, type, MACs, input rate, ACs, mJ).
    """
    if reset_states:
        reset_neurons(model)
    counter = EnergyCounter(model, e_mac_pj, e_ac_pj, preset, max_spike_value,
                            count_elementwise, energy_model, costs, qnn_bits)
    with torch.no_grad(), counter:
        call_model(model, inputs)
    if reset_states:
        reset_neurons(model)
    return counter.report()
