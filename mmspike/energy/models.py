"""Hardware models of energy: what one counted operation costs under each model, for the spiking
network (``'snn'``) and for its two baselines, the same network as an ANN (``'ann'``) and the
quantized ANN of equal capacity (``'qnn'``).

The counter (:class:`mmspike.energy.EnergyCounter`) describes every operation it sees by the
facts below (:class:`SynapticOp`, :class:`NeuronOp`, :class:`ElementwiseOp`), read from the
tensors that flowed, and adds up what these pure functions return.  Three models
(``ENERGY_MODELS``):

* ``'compute'``: arithmetic only, ``E_MAC x MACs + E_AC x ACs`` (Horowitz 2014, 45 nm), the
  convention of the SVFormer and SpikeVideoFormer papers.
* ``'memory'``: the arithmetic (element-wise operations included, as spikingjelly 2.0's
  ``estimate_simple_energy`` counts them) plus data movement at ``E_mem`` pJ per byte:
  parameters read per use, neuron state read and written every step, activations read and
  written once per operation, each in the bytes it occupies (a binary spike 1 bit, an integer
  spike ``ceil(log2(D + 1))`` bits, a real value its dtype's size).
* ``'lemaire'``: the analytical model of Lemaire et al. 2022 ("An analytical estimation of
  spiking neural networks energy efficiency", ICONIP 2022) with spikingjelly 2.0's constants:
  operations, addressing, and memory accesses whose cost per byte grows with the size of the
  buffer they hit.

Every function returns a ``{part: pJ}`` dict; docs/energy.md lists the parts, the constants and
their sources.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..ops.spike_pack import spike_bits

ENERGY_MODELS = ('compute', 'memory', 'lemaire')
SYSTEMS = ('snn', 'ann', 'qnn')

#: The memory part of each model's total, by part name (the rest is arithmetic).
MEMORY_PARTS = {'compute': (), 'memory': ('params', 'state', 'activations'),
                'lemaire': ('memory', )}

# Lemaire et al. 2022 as configured in spikingjelly 2.0 (``LemaireEnergyCostConfig``): 32-bit
# words; 45 nm integer add / multiply; SRAM cost per byte at 0, 8 KiB, 32 KiB and 1 MiB buffers
# (10, 20 and 100 pJ per 32-bit access at the last three), linear in between, flat above 1 MiB.
_WORD_BYTES = 4
_LEMAIRE_BREAKPOINTS = ((0.0, 0.0), (8.0 * 1024, 10.0 / _WORD_BYTES),
                        (32.0 * 1024, 20.0 / _WORD_BYTES), (1024.0 * 1024, 100.0 / _WORD_BYTES))


@dataclass(frozen=True)
class EnergyCosts:
    """The constants of every model.

    Args:
        e_mac_pj, e_ac_pj (float): pJ per multiply-accumulate / accumulate (``'compute'``,
            ``'memory'``; default 45 nm FP32, Horowitz 2014).
        e_memory_pj_per_byte (float): pJ per byte moved (``'memory'``; default 24.96 pJ, i.e.
            3.12 pJ/bit, spikingjelly 2.0's ``SimpleEnergyCostConfig``).
        e_add_pj, e_mul_pj (float): pJ per 32-bit integer add / multiply (``'lemaire'``).
        memory_breakpoints: ``'lemaire'``'s pJ per byte at four buffer sizes in bytes.
        fifo_elements (int): ``'lemaire'``'s spike FIFO capacity in 32-bit words.
        qnn_bits (int): activation bits of the QNN baseline.
    """

    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9
    e_memory_pj_per_byte: float = 24.96
    e_add_pj: float = 0.1
    e_mul_pj: float = 3.1
    memory_breakpoints: Tuple[Tuple[float, float], ...] = _LEMAIRE_BREAKPOINTS
    fifo_elements: int = 1000
    qnn_bits: int = 1

    def __post_init__(self):
        for name in ('e_mac_pj', 'e_ac_pj', 'e_memory_pj_per_byte', 'e_add_pj', 'e_mul_pj'):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f'{name} must be a finite number >= 0, got {value}')
        if int(self.qnn_bits) < 1:
            raise ValueError(f'qnn_bits must be >= 1, got {self.qnn_bits}')
        sizes = [x for x, _ in self.memory_breakpoints]
        if len(sizes) < 2 or sizes != sorted(set(sizes)):
            raise ValueError('memory_breakpoints must be (bytes, pJ per byte) pairs with '
                             f'strictly increasing sizes, got {self.memory_breakpoints}')


def qnn_bits_for(max_spike_value: int, steps_per_input: int = 1) -> int:
    """Activation bits of the QNN with the capacity of the SNN: ``ceil(log2(S + 1))`` with ``S``
    the most spikes a neuron can emit for one input (arXiv 2409.08290 maps a rate-coded SNN of
    ``T`` steps to ``ceil(log2(T + 1))`` bits).

    mmspike's video models spend one step per frame, so ``S = steps_per_input x D`` with ``D``
    the largest spike value (1 for binary neurons, I-LIF's ``levels``): 1 bit for binary
    neurons, 3 bits for I-LIF with D = 4.
    """
    spikes = int(max_spike_value) * int(steps_per_input)
    if spikes < 1:
        raise ValueError(f'the most spikes per input must be >= 1, got {spikes}')
    return spike_bits(spikes)


def uses_more(energy: float, baseline: float) -> bool:
    """Whether ``energy`` exceeds ``baseline`` beyond float rounding (the per-layer tables' mark
    of a spiking layer that uses more energy than in the QNN)."""
    return energy > baseline * (1 + 1e-9)


def lemaire_cost_per_byte(buffer_bytes: float, breakpoints=_LEMAIRE_BREAKPOINTS) -> float:
    """pJ per byte of an access to a buffer of ``buffer_bytes``: linear interpolation between the
    ``(size, pJ/byte)`` breakpoints, clamped to the first and last."""
    size = min(max(float(buffer_bytes), breakpoints[0][0]), breakpoints[-1][0])
    for (x0, y0), (x1, y1) in zip(breakpoints, breakpoints[1:]):
        if size <= x1:
            return y0 + (y1 - y0) * (size - x0) / (x1 - x0)
    return breakpoints[-1][1]


@dataclass
class SynapticOp:
    """One convolution or matrix product, as it ran.

    ``dense_macs``: multiply-accumulates of the dense operation.  ``spike_input``: the
    activation operand held spikes; ``events`` its spikes, an integer spike ``s`` counting ``s``
    times; ``synaptic_ops``: the exact (spike, weight) pairs used (mmspike's ACs; for spike x
    spike products the pairs where both are non-zero).  ``weight_is_param``: the second operand
    is a parameter (a layer's weight) rather than another activation (attention).
    ``fanout``: weights one spike reaches under Lemaire's counting (``C_out / groups x
    prod(kernel)``, ``out_features`` for a product); ``lemaire_synops``: Lemaire's synaptic
    operations per spike (``C_out / groups x prod(ceil(k / s))``).
    """

    kind: str  # 'conv', 'linear' (a product with a parameter) or 'matmul' (two activations)
    dense_macs: int
    spike_input: bool
    events: float = 0.0
    synaptic_ops: int = 0
    both_spikes: bool = False
    weight_is_param: bool = True
    input_numel: int = 0
    output_numel: int = 0
    input_bits: float = 32.0  # per element of the activation operand as stored
    weight_bits: float = 32.0  # per element of the second operand
    value_bits: float = 32.0  # per real-valued element (the output's dtype)
    weight_numel: int = 0
    bias_numel: int = 0  # 0: no bias
    bias_bits: float = 32.0
    fanout: int = 0
    lemaire_synops: int = 0
    conv_addressing: int = 0  # C_out x prod(kernel): Lemaire's extra addressing of a dense conv


@dataclass
class NeuronOp:
    """One call of a spiking neuron layer: ``numel`` neuron-steps over ``steps`` time steps,
    ``spikes`` emitted (integer spikes by value), ``state_bytes`` of state per step,
    ``leak``: its update multiplies (LIF, PLIF, I-LIF; not IF)."""

    numel: int
    steps: int
    spikes: float
    state_bytes: float
    input_bits: float = 32.0
    spike_bits: float = 1.0
    leak: bool = True


@dataclass
class ElementwiseOp:
    """Normalisation, addition, reduction or pooling outside a neuron's own update: ``macs`` /
    ``acs`` as spikingjelly 2.0's simple model counts them; ``numel`` output elements;
    ``foldable``: a BatchNorm in eval mode (``channels`` channels), which hardware folds into the
    preceding layer."""

    kind: str
    macs: int
    acs: int
    numel: int = 0
    channels: int = 0
    foldable: bool = False


# -- 'compute' and 'memory' ------------------------------------------------------------------
def _quantized_mac_pj(op: SynapticOp, costs: EnergyCosts) -> float:
    """pJ of one MAC of the QNN on a layer whose SNN input is spikes: a ``b``-bit activation
    times a weight is ``b`` shifted accumulates (``b x b`` for two ``b``-bit operands), or one
    MAC if that is cheaper."""
    bits = costs.qnn_bits * (costs.qnn_bits if op.both_spikes else 1)
    return min(bits * costs.e_ac_pj, costs.e_mac_pj)


def synaptic_compute(op: SynapticOp, system: str, costs: EnergyCosts) -> Dict[str, float]:
    """Arithmetic of a convolution / product.

    * snn: ``E_AC x synaptic_ops`` on spike input, ``E_MAC x dense_macs`` on real input;
    * ann: ``E_MAC x dense_macs``;
    * qnn: ``dense_macs x min(b x E_AC, E_MAC)`` where the SNN sees spikes (``b`` = QNN bits;
      ``b x b`` for spike x spike products), ``E_MAC x dense_macs`` elsewhere.
    """
    if system == 'snn':
        pj = op.synaptic_ops * costs.e_ac_pj if op.spike_input else op.dense_macs * costs.e_mac_pj
    elif system == 'ann' or not op.spike_input:
        pj = op.dense_macs * costs.e_mac_pj
    else:
        pj = op.dense_macs * _quantized_mac_pj(op, costs)
    return {'compute': pj}


def synaptic_memory(op: SynapticOp, system: str, costs: EnergyCosts) -> Dict[str, float]:
    """Data movement of a convolution / product, ``E_mem`` pJ per byte:

    * params: every use of a weight reads it (snn: one read per synaptic op on spike input,
      as spikingjelly counts weight reads; ann, qnn and real input: one per dense MAC), plus
      one bias read per output element;
    * activations: the input read once (snn: a spike in ``input_bits``; qnn: ``b`` bits where
      the SNN has spikes; ann: the real dtype), the output written once; a second operand that
      is an activation (attention) is read per use, like a weight.
    """
    uses = op.synaptic_ops if (system == 'snn' and op.spike_input) else op.dense_macs
    if system == 'snn':
        input_bits, weight_bits = op.input_bits, op.weight_bits
    elif system == 'qnn':
        input_bits = costs.qnn_bits if op.spike_input else op.value_bits
        weight_bits = costs.qnn_bits if (op.both_spikes and not op.weight_is_param) \
            else op.weight_bits
    else:
        input_bits = op.value_bits
        weight_bits = op.weight_bits if op.weight_is_param else op.value_bits
    weight_bytes = uses * weight_bits / 8
    bias_bytes = op.output_numel * op.bias_bits / 8 if op.bias_numel else 0.0
    activation_bytes = op.input_numel * input_bits / 8 + op.output_numel * op.value_bits / 8
    params = bias_bytes
    if op.weight_is_param:
        params += weight_bytes
    else:
        activation_bytes += weight_bytes
    per_byte = costs.e_memory_pj_per_byte
    return {'params': params * per_byte, 'state': 0.0, 'activations': activation_bytes * per_byte}


def neuron_memory(op: NeuronOp, system: str, costs: EnergyCosts) -> Dict[str, float]:
    """Data movement of a neuron layer (the ANN's activation function, the QNN's quantizer):
    the input current read once and the output written once (snn: spikes in ``spike_bits``;
    qnn: ``b`` bits; ann: real values); snn only: the state read and written every step
    (``2 x steps x state_bytes``)."""
    per_byte = costs.e_memory_pj_per_byte
    out_bits = {'snn': op.spike_bits, 'qnn': costs.qnn_bits, 'ann': op.input_bits}[system]
    activations = op.numel * (op.input_bits + out_bits) / 8
    state = 2 * op.steps * op.state_bytes if system == 'snn' else 0.0
    return {'params': 0.0, 'state': state * per_byte, 'activations': activations * per_byte}


def elementwise_compute(op: ElementwiseOp, costs: EnergyCosts) -> Dict[str, float]:
    """``E_MAC x macs + E_AC x acs`` of an element-wise operation (the same in all systems)."""
    return {'compute': op.macs * costs.e_mac_pj + op.acs * costs.e_ac_pj}


# -- 'lemaire' ----------------------------------------------------------------------------
def _access(parts: Dict[str, float], nbytes: float, buffer_bytes: float, costs: EnergyCosts):
    parts['memory'] += nbytes * lemaire_cost_per_byte(buffer_bytes, costs.memory_breakpoints)


def synaptic_lemaire(op: SynapticOp, system: str, costs: EnergyCosts,
                     has_neurons: bool) -> Dict[str, float]:
    """Lemaire et al. 2022 for one convolution / product, as spikingjelly 2.0 implements it for
    ``nn.Conv*`` / ``nn.Linear`` (32-bit words ``w = 4`` bytes; ``E_add``, ``E_mul``; an access
    to a buffer of ``B`` bytes costs ``c(B)`` pJ per byte):

    * spike input (snn), ``n`` spikes: ``n x lemaire_synops`` adds; addressing ``n x fanout``
      adds (+ ``2n`` multiply-adds for a convolution); reads: ``n w`` from the spike FIFO,
      ``n x fanout x w`` weights from the parameter buffer, and ``n x fanout x w`` membrane
      reads and as many writes at the output's size;
    * real input (snn), and every layer of the ann / qnn: ``dense_macs`` multiply-adds;
      addressing ``inputs + outputs`` adds (+ ``C_out x prod(k)`` for a convolution); reads:
      the inputs (a convolution: once per MAC) and ``dense_macs`` weights; the output written
      when the network has no neurons (ann, qnn);
    * bias: one add and one word read per output element.

    The qnn charges ``min(b x E_add, E_mul + E_add)`` per MAC and ``b / 32`` of a word per
    input read where the SNN has spikes.  A product of two activations treats the second as the
    weights (buffer: its size).
    """
    w = _WORD_BYTES
    parts = {'ops': 0.0, 'addressing': 0.0, 'memory': 0.0}
    mul_add = costs.e_mul_pj + costs.e_add_pj
    param_buffer = (op.weight_numel + op.bias_numel) * w
    if system == 'snn' and op.spike_input:
        events = op.events
        parts['ops'] += events * op.lemaire_synops * costs.e_add_pj
        parts['addressing'] += events * op.fanout * costs.e_add_pj
        if op.kind == 'conv':
            parts['addressing'] += 2 * events * mul_add
        _access(parts, events * w, costs.fifo_elements * w, costs)
        _access(parts, events * op.fanout * w, param_buffer, costs)
        _access(parts, 2 * events * op.fanout * w, op.output_numel * w, costs)
    else:
        quantized = system == 'qnn' and op.spike_input
        if quantized:
            bits = costs.qnn_bits * (costs.qnn_bits if op.both_spikes else 1)
            parts['ops'] += op.dense_macs * min(bits * costs.e_add_pj, mul_add)
        else:
            parts['ops'] += op.dense_macs * mul_add
        parts['addressing'] += (op.input_numel + op.output_numel + op.conv_addressing) \
            * costs.e_add_pj
        input_reads = op.dense_macs if op.kind == 'conv' else op.input_numel
        input_word = w * (costs.qnn_bits / 32 if quantized else 1.0)
        _access(parts, input_reads * input_word, op.input_numel * w, costs)
        _access(parts, op.dense_macs * w, param_buffer, costs)
        if not has_neurons:
            _access(parts, op.output_numel * w, op.output_numel * w, costs)
    if op.bias_numel:
        parts['ops'] += op.output_numel * costs.e_add_pj
        _access(parts, op.output_numel * w, param_buffer, costs)
    return parts


def neuron_lemaire(op: NeuronOp, system: str, costs: EnergyCosts) -> Dict[str, float]:
    """Lemaire et al. 2022 for a neuron layer (snn only; the ANN's activation function is free):
    the membrane read and written once per neuron-step (buffer: one step's membranes), one add
    per spike and, for a leaky neuron, one multiply-add per neuron-step; every spike written to
    the FIFO as one word.  An integer spike ``s`` is ``s`` spikes."""
    parts = {'ops': 0.0, 'addressing': 0.0, 'memory': 0.0}
    if system != 'snn':
        return parts
    w = _WORD_BYTES
    buffer = op.numel // max(op.steps, 1) * w
    _access(parts, 2 * op.numel * w, buffer, costs)
    parts['ops'] += op.spikes * costs.e_add_pj
    if op.leak:
        parts['ops'] += op.numel * (costs.e_mul_pj + costs.e_add_pj)
    _access(parts, op.spikes * w, costs.fifo_elements * w, costs)
    return parts


def elementwise_lemaire(op: ElementwiseOp, costs: EnergyCosts) -> Dict[str, float]:
    """Element-wise operations under Lemaire's model (which has no formula for them), chosen as
    hardware would run them:

    * a BatchNorm in eval mode is folded into the preceding layer: its scale into the weights
      (free), its shift into a bias (one add and one word read per output element, buffer: one
      word per channel);
    * other normalisation, additions, reductions and pooling: ``macs`` multiply-adds and
      ``acs`` adds, their operands assumed in registers (no memory access).
    """
    parts = {'ops': 0.0, 'addressing': 0.0, 'memory': 0.0}
    if op.foldable:
        parts['ops'] += op.numel * costs.e_add_pj
        _access(parts, op.numel * _WORD_BYTES, op.channels * _WORD_BYTES, costs)
        return parts
    parts['ops'] += op.macs * (costs.e_mul_pj + costs.e_add_pj) + op.acs * costs.e_add_pj
    return parts


def op_energy(op, costs: EnergyCosts, has_neurons: bool,
              count_elementwise: bool) -> Dict[str, Dict[str, float]]:
    """The energy of one counted operation under every model and system:
    ``{f'{model}/{system}': {part: pJ}}``.

    ``count_elementwise`` adds element-wise operations to ``'compute'`` (``'memory'`` always
    counts them, as spikingjelly's simple model does)."""
    out = {}
    for system in SYSTEMS:
        if isinstance(op, SynapticOp):
            compute = synaptic_compute(op, system, costs)
            memory = synaptic_memory(op, system, costs)
            lemaire = synaptic_lemaire(op, system, costs, has_neurons and system == 'snn')
        elif isinstance(op, NeuronOp):
            compute = {'compute': 0.0}
            memory = neuron_memory(op, system, costs)
            lemaire = neuron_lemaire(op, system, costs)
        else:
            compute = elementwise_compute(op, costs)
            memory = {'params': 0.0, 'state': 0.0, 'activations': 0.0}
            lemaire = elementwise_lemaire(op, costs)
        out[f'compute/{system}'] = compute if (count_elementwise or
                                               not isinstance(op, ElementwiseOp)) \
            else {'compute': 0.0}
        out[f'memory/{system}'] = dict({'compute': compute['compute']}, **memory)
        out[f'lemaire/{system}'] = lemaire
    return out


@dataclass
class EnergyBreakdown:
    """Totals of one model for one system, in mJ: ``parts`` by name and their ``total``."""

    model: str
    system: str
    parts: Dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def memory(self) -> float:
        return sum(self.parts.get(name, 0.0) for name in MEMORY_PARTS[self.model])

    @property
    def compute(self) -> float:
        return self.total - self.memory


def check_energy_model(energy_model: Optional[str]) -> str:
    """``energy_model`` if it is one of :data:`ENERGY_MODELS` (None: ``'compute'``)."""
    energy_model = 'compute' if energy_model is None else energy_model
    if energy_model not in ENERGY_MODELS:
        raise ValueError(f'unknown energy_model {energy_model!r}; expected one of '
                         f'{list(ENERGY_MODELS)}')
    return energy_model
