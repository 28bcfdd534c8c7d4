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

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..neurons.stateful import is_spiking_neuron, reset_neurons
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
    """One row of an energy report (totals over every call of the layer)."""

    name: str
    type: str
    calls: int = 0
    dense_macs: int = 0  # MACs an ANN would do for the same shapes
    macs: int = 0  # MACs charged (real-valued input)
    acs: int = 0  # accumulates charged (spike input)
    input_nonzero: int = 0
    input_elements: int = 0
    spike_input: bool = False
    energy_mj: float = 0.0

    @property
    def input_rate(self) -> float:
        return self.input_nonzero / self.input_elements if self.input_elements else 0.0

    def as_dict(self) -> dict:
        row = asdict(self)
        row['input_rate'] = self.input_rate
        return row


@dataclass
class EnergyReport:
    """Result of :func:`estimate_energy` / :class:`EnergyCounter` (totals for the whole input)."""

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

    def as_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != 'layers'}
        data['layers'] = [row.as_dict() for row in self.layers]
        return data

    def table(self) -> str:
        """The per-layer table as fixed-width text."""
        header = (f'{"layer":<48} {"type":<10} {"MACs(dense)":>14} {"in rate":>8} '
                  f'{"MACs":>14} {"ACs":>14} {"mJ":>10}')
        lines = [header, '-' * len(header)]
        for row in self.layers:
            lines.append(f'{row.name[-48:]:<48} {row.type[:10]:<10} {row.dense_macs:>14,} '
                         f'{row.input_rate:>8.4f} {row.macs:>14,} {row.acs:>14,} '
                         f'{row.energy_mj:>10.5f}')
        lines.append('-' * len(header))
        lines.append(f'{"total":<48} {"":<10} {self.dense_mac:>14,} {"":>8} {self.mac:>14,} '
                     f'{self.ac:>14,} {self.energy_mj:>10.5f}')
        return '\n'.join(lines)


class EnergyCounter(TorchDispatchMode):
    """Context manager that counts MACs/ACs of everything ``model`` runs inside it.

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
            element), reductions and average pooling, as spikingjelly's ``estimate_simple_energy``
            does.  Off by default: the usual SNN convention counts synaptic operations only.
    """

    def __init__(self, model: nn.Module, e_mac_pj=None, e_ac_pj=None, preset='fp32',
                 max_spike_value=None, count_elementwise=False):
        super().__init__()
        self.model = model
        if max_spike_value is None:
            max_spike_value = spike_value_range(model)
        self.e_mac_pj, self.e_ac_pj = resolve_energy_costs(e_mac_pj, e_ac_pj, preset)
        self.max_spike_value = int(max_spike_value)
        self.count_elementwise = bool(count_elementwise)
        self.rows: dict[str, LayerEnergy] = {}
        self.spikes = 0.0
        self.neuron_steps = 0
        self._stack = []  # [module name, module, number of ops seen in this call]
        self._handles = []

    # -- module tracking -------------------------------------------------------------------
    def _push(self, name):
        def hook(module, args):
            self._stack.append([name, module, 0])
        return hook

    def _pop(self, module, args, output):
        if self._stack and self._stack[-1][1] is module:
            self._stack.pop()

    def _count_spikes(self, module, args, output):
        if torch.is_tensor(output):
            with uncounted():
                self.spikes += float(output.detach().sum(dtype=torch.float64))
            self.neuron_steps += output.numel()

    def __enter__(self):
        self._stack = []
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._push(name)))
            self._handles.append(module.register_forward_hook(self._pop, always_call=True))
            if is_spiking_neuron(module):
                self._handles.append(module.register_forward_hook(self._count_spikes))
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles = []
            self._stack = []

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
                self.rows[key] = LayerEnergy(name=key, type='elementwise')
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
            self._record_matmul(func, args, kwargs)
        elif self.count_elementwise:
            self._record_elementwise(func, args, out)

    def _record_elementwise(self, func, args, out):
        if func in _NORM_OPS:
            x, weight = args[0], args[1]
            training = func is aten._native_batch_norm_legit.default or (
                func is aten.native_batch_norm.default and args[5])
            n, c = x.numel(), x.shape[1]
            macs = n if weight is not None else 0
            acs = 3 * n + 2 * c if training else n + c
            row = self._row('norm', elementwise=True)
        elif func in _ADD_OPS:
            result = out if torch.is_tensor(out) else args[0]
            macs, acs, row = 0, result.numel(), self._row('add', elementwise=True)
        elif func in _REDUCE_OPS:
            macs, acs, row = 0, args[0].numel() - out.numel(), self._row('sum', elementwise=True)
        elif func in _POOL_OPS:
            kernel = args[1] if len(args) > 1 else ()
            kernel = [kernel] * (out.dim() - 2) if isinstance(kernel, int) else list(kernel)
            if len(kernel) == 1:
                kernel = kernel * (out.dim() - 2)
            per_output = max(1, int(torch.tensor(kernel).prod()))
            macs, acs = 0, out.numel() * (per_output - 1)
            row = self._row('avg_pool', elementwise=True)
        else:
            return
        row.calls += 1
        row.macs += macs
        row.acs += acs
        row.energy_mj += (macs * self.e_mac_pj + acs * self.e_ac_pj) / _PJ_PER_MJ

    def _record_conv(self, args, out):
        x, weight = args[0], args[1]
        stride, padding, dilation, transposed, output_padding, groups = args[3:9]
        row = self._row('conv')
        dense = conv_dense_macs(weight.shape if not transposed else
                                (weight.shape[1] * groups, weight.shape[0] // groups,
                                 *weight.shape[2:]),
                                x.shape if transposed else out.shape)
        spikes = self._spikes(x)
        macs, acs = 0, 0
        if spikes:
            acs = conv_synaptic_ops(x, weight.shape, stride, padding, dilation, groups,
                                    transposed, output_padding)
        else:
            macs = dense
        self._add(row, dense, macs, acs, x, spikes)

    def _record_matmul(self, func, args, kwargs):
        a, b = (args[0], args[1]) if func in (aten.mm.default, aten.bmm.default) \
            else (args[1], args[2])
        row = self._row(_MATMUL_OPS[func])
        a_spikes, b_spikes = self._spikes(a), self._spikes(b)
        macs, acs = matmul_counts(a, b, a_spikes, b_spikes)
        dense = matmul_counts(a, b, False, False)[0]
        # the activation operand: the spiking one if any, else the first
        activation = b if (b_spikes and not a_spikes) else a
        self._add(row, dense, macs, acs, activation, a_spikes or b_spikes)

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
        mac = sum(r.macs for r in rows)
        ac = sum(r.acs for r in rows)
        mac_mj = mac * self.e_mac_pj / _PJ_PER_MJ
        ac_mj = ac * self.e_ac_pj / _PJ_PER_MJ
        rate = self.spikes / self.neuron_steps if self.neuron_steps else float('nan')
        return EnergyReport(mac=mac, ac=ac, dense_mac=sum(r.dense_macs for r in rows),
                            energy_mj=mac_mj + ac_mj, mac_energy_mj=mac_mj, ac_energy_mj=ac_mj,
                            e_mac_pj=self.e_mac_pj, e_ac_pj=self.e_ac_pj, firing_rate=rate,
                            layers=[LayerEnergy(**asdict(r)) for r in rows])


def call_model(model: nn.Module, inputs):
    """``model(*inputs)`` for a tuple/list, ``model(**inputs)`` for a dict, else
    ``model(inputs)``."""
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(inputs)


def estimate_energy(model: nn.Module, inputs, e_mac_pj=None, e_ac_pj=None, preset='fp32',
                    max_spike_value=None, count_elementwise=False,
                    reset_states=True) -> EnergyReport:
    """Run ``model`` once on ``inputs`` (no grad) and count its MACs, ACs and energy.

    ``energy_mj = (E_MAC x MACs + E_AC x ACs) / 1e9``, counted from the tensors that flowed (see
    :mod:`mmspike.energy.ops`); totals are for the whole ``inputs`` batch.

    Args:
        model (nn.Module): any module; spiking neurons are reset before the pass when
            ``reset_states`` (mmspike neurons and spikingjelly memory modules).
        inputs: a tensor, a tuple/list of positional arguments or a dict of keyword arguments.
        e_mac_pj, e_ac_pj (float, optional): energy per MAC / AC in pJ (default: ``preset``).
        preset (str): 'fp32' (default; 4.6 / 0.9 pJ, 45 nm, Horowitz 2014), 'fp16', 'int8'.
        max_spike_value (int, optional): integer activations up to this value count as spikes
            (an integer spike ``s`` as ``s`` binary ones). Defaults to None: the model's largest
            I-LIF ``levels``, else 1.
        count_elementwise (bool): also count normalisation and element-wise operations
            (see :class:`EnergyCounter`).

    Returns:
        EnergyReport: ``mac``, ``ac``, ``dense_mac``, ``energy_mj``, ``firing_rate`` and
        ``layers`` (one :class:`LayerEnergy` per layer: name, type, MACs, input rate, ACs, mJ).
    """
    if reset_states:
        reset_neurons(model)
    counter = EnergyCounter(model, e_mac_pj, e_ac_pj, preset, max_spike_value,
                            count_elementwise)
    with torch.no_grad(), counter:
        call_model(model, inputs)
    if reset_states:
        reset_neurons(model)
    return counter.report()
