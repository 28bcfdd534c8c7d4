"""Record spike activity of a model: neuron firing rates and Conv/Linear input non-zero rates.

:class:`SpikeActivityRecorder` is the measuring part of :class:`~mmspike.hooks.FiringRateHook`,
usable on its own around any forward passes::

    recorder = SpikeActivityRecorder(model)
    recorder.start()
    model(x)
    recorder.stop()
    report = summarize_activity(recorder.counts())  # firing_rate_mean, layers, inputs, ...

Neurons are found by :func:`~mmspike.neurons.is_spiking_neuron` (mmspike's, plugins' that follow
the :class:`~mmspike.neurons.StatefulModule` protocol with ``emits_spikes``, spikingjelly's).
"""
from __future__ import annotations

import weakref

import torch
from torch import nn

from ..energy.counter import uncounted
from ..layers.temporal import SeqToANN
from ..neurons.stateful import is_spiking_neuron

#: layers whose input non-zero rate is recorded (their input is what costs ACs or MACs)
SYNAPTIC_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                   nn.ConvTranspose3d, nn.Linear)


def _nonzero_per_row(x, rows):
    """Non-zero elements of ``x.reshape(rows, -1)`` per row, as float64 (exact: counted in
    float32 blocks of at most 2**22 elements)."""
    flat = torch.sign(x.reshape(rows, -1)).abs_()
    width = flat.shape[1]
    block = max(1, min(width, 1 << 22))
    pad = (-width) % block
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    return flat.reshape(rows, -1, block).sum(-1).to(torch.float64).sum(1)


class _Tally:
    """Running totals of one layer: non-zero count and element count, overall and per step."""

    __slots__ = ('name', 'kind', 'type', 'nonzero', 'elements', 'step_nonzero', 'step_elements')

    def __init__(self, name, kind, type_name):
        self.name, self.kind, self.type = name, kind, type_name
        self.nonzero = None  # tensors, so that no host sync happens per batch
        self.elements = 0
        self.step_nonzero = None
        self.step_elements = 0

    def add(self, nonzero, elements, step_nonzero=None):
        nonzero = nonzero.to(torch.float64)
        self.nonzero = nonzero if self.nonzero is None else self.nonzero + nonzero
        self.elements += elements
        if step_nonzero is None:
            return
        step_nonzero = step_nonzero.to(torch.float64)
        if self.step_nonzero is None:
            self.step_nonzero = step_nonzero
        elif self.step_nonzero.shape == step_nonzero.shape:
            self.step_nonzero = self.step_nonzero + step_nonzero
        else:  # the number of steps changed between batches: per-step rates are meaningless
            self.step_nonzero = torch.zeros(0, dtype=torch.float64, device=nonzero.device)
            self.step_elements = -1
            return
        if self.step_elements >= 0:
            self.step_elements += elements // step_nonzero.numel()


class SpikeActivityRecorder:
    """Forward hooks that count, for every spiking neuron layer, the spikes of its output and, for
    every Conv/Linear layer, the non-zero elements of its input, overall and per time step.

    Time steps: a neuron's output is multi-step ``[T, B, ...]``.  A Conv/Linear input is split
    per step when its layout is known: inside :class:`~mmspike.layers.temporal.SeqToANN` (``[T*B,
    ...]``, step-major), a ``[T, B, ...]`` input with ``T`` the neurons' step count (multi-step
    Linear), or a Conv3d input ``[B, C, T, H, W]``; otherwise it gets no per-step rates.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.tallies: dict[str, _Tally] = {}
        self._handles = []
        self._time_context = []  # (T, B) of the SeqToANN wrappers being run
        self._steps = None  # T of the most recent neuron output
        self._recent_spikes = {}  # data_ptr -> (weakref to a neuron output, numel, per-step sums)

    def start(self):
        self.stop()
        self.tallies = {}
        for name, module in self.model.named_modules():
            if is_spiking_neuron(module):
                self.tallies[name] = _Tally(name, 'neuron', type(module).__name__)
                self._handles.append(module.register_forward_hook(self._neuron_hook(name)))
            elif isinstance(module, SYNAPTIC_LAYERS):
                self.tallies[name] = _Tally(name, 'input', type(module).__name__)
                self._handles.append(module.register_forward_pre_hook(self._input_hook(name)))
            elif isinstance(module, SeqToANN):
                self._handles.append(module.register_forward_pre_hook(self._enter_sequence))
                self._handles.append(module.register_forward_hook(self._leave_sequence,
                                                                  always_call=True))

    def stop(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._time_context = []
        self._recent_spikes = {}

    @property
    def recording(self) -> bool:
        return bool(self._handles)

    def _enter_sequence(self, module, args):
        x = args[0]
        self._time_context.append((x.shape[0], x.shape[1]))

    def _leave_sequence(self, module, args, output):
        if self._time_context:
            self._time_context.pop()

    def _neuron_hook(self, name):
        def hook(module, args, output):
            if not torch.is_tensor(output) or output.dim() < 2:
                return
            with uncounted():  # not part of the model's energy if an EnergyCounter is running
                binary = int(getattr(module, 'max_spike_value', 1)) <= 1
                self._record_neuron(name, output, binary)
        return hook

    def _record_neuron(self, name, output, binary=True):
        out = output.detach()
        steps = self._steps = out.shape[0]
        # float32 sums are exact per (step, sample) and much faster than float64 reductions
        per_step = out.reshape(steps, out.shape[1], -1).sum(-1).to(torch.float64).sum(1)
        self.tallies[name].add(per_step.sum(), out.numel(), per_step)
        if not binary:  # integer spikes: their sum is not the number of non-zero elements
            return
        # a layer whose input is this very tensor reuses the count (see _record_input)
        self._recent_spikes[output.data_ptr()] = (weakref.ref(output), output.numel(), per_step)
        while len(self._recent_spikes) > 64:
            self._recent_spikes.pop(next(iter(self._recent_spikes)))

    def _reused_spike_count(self, x):
        """Per-step spike counts of a live neuron output that ``x`` is a view of, else None."""
        entry = self._recent_spikes.get(x.data_ptr())
        if entry is None or entry[1] != x.numel() or entry[0]() is None:
            return None
        return entry[2]

    def _input_hook(self, name):
        def hook(module, args):
            if not args or not torch.is_tensor(args[0]):
                return
            with uncounted():
                self._record_input(name, module, args[0])
        return hook

    def _record_input(self, name, module, x):
        per_step = self._reused_spike_count(x)
        if per_step is not None:  # binary spikes: spike count == non-zero count
            self.tallies[name].add(per_step.sum(), x.numel(), per_step)
            return
        x = x.detach()
        if self._time_context and x.shape[0] == self._time_context[-1][0] * \
                self._time_context[-1][1]:
            per_step = _nonzero_per_row(x, self._time_context[-1][0])
        elif self._steps and x.dim() >= 3 and x.shape[0] == self._steps \
                and isinstance(module, nn.Linear):
            per_step = _nonzero_per_row(x, self._steps)
        elif self._steps and x.dim() == 5 and x.shape[2] == self._steps \
                and isinstance(module, nn.Conv3d):
            per_step = _nonzero_per_row(x.transpose(0, 2), self._steps)
        nonzero = per_step.sum() if per_step is not None else _nonzero_per_row(x, 1).sum()
        self.tallies[name].add(nonzero, x.numel(), per_step)

    def counts(self):
        """``[(name, kind, type, nonzero, elements, per-step nonzero list or None, per-step
        elements)]`` for every layer that saw data, as Python numbers (one host sync)."""
        rows = []
        for tally in self.tallies.values():
            if tally.nonzero is None:
                continue
            steps = None
            if tally.step_nonzero is not None and tally.step_elements > 0:
                steps = tally.step_nonzero.tolist()
            rows.append((tally.name, tally.kind, tally.type, float(tally.nonzero),
                         int(tally.elements), steps, int(max(tally.step_elements, 0))))
        return rows


def summarize_activity(rows) -> dict:
    """Turn (possibly all-reduced) counts into the report written to ``firing_rates.json``.

    ``firing_rate = spikes / neuron-steps`` per neuron layer; ``nonzero_rate = non-zero inputs /
    input elements`` per Conv/Linear layer; ``per_step`` lists the same per time step.
    ``firing_rate_mean`` is the unweighted mean over neuron layers, ``firing_rate_overall`` the
    rate over all neuron-steps.
    """
    neurons, inputs = [], []
    for name, kind, type_name, nonzero, elements, steps, step_elements in rows:
        rate = nonzero / elements if elements else 0.0
        per_step = [s / step_elements for s in steps] if steps and step_elements else None
        if kind == 'neuron':
            neurons.append(dict(name=name, type=type_name, firing_rate=rate, spikes=nonzero,
                                neuron_steps=elements, per_step=per_step))
        else:
            inputs.append(dict(name=name, type=type_name, nonzero_rate=rate, nonzero=nonzero,
                               elements=elements, per_step=per_step))
    mean_rate = sum(r['firing_rate'] for r in neurons) / len(neurons) if neurons else 0.0
    total_steps = sum(r['neuron_steps'] for r in neurons)
    overall = sum(r['spikes'] for r in neurons) / total_steps if total_steps else 0.0
    return dict(firing_rate_mean=mean_rate, firing_rate_overall=overall, layers=neurons,
                inputs=inputs)
