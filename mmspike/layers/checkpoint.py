"""Gradient checkpointing for spiking layers: whole blocks (``checkpoint='block'``) or single
layers whose spike inputs are kept in 1 bit per spike (``checkpoint='layer'``).

Checkpointing keeps only a segment's input for backward and runs the segment a second time
during backward to get what its backward needs.  Spiking layers hold state: a neuron keeps its
membrane between calls, BatchNorm updates its running statistics (and :class:`BNAndPad` reads
them in its forward), stochastic depth draws random numbers.  :class:`StateKeeper` makes the
second run start from the state the first one started from and leaves the state of the first
run in place afterwards, so loss, gradients and running statistics equal those of the plain
forward.

``checkpoint='layer'`` cuts every block at its spikes: a layer runs from the spikes one neuron
emits to the spikes of the next neuron (or to the end of the residual branch), and keeps its
spike inputs packed (:func:`~mmspike.ops.spike_pack.pack_spikes`: 1 bit per binary spike,
``ceil(log2(D + 1))`` bits per integer spike of ``0..D``).  What backward keeps of a block is
then its packed spikes and the real-valued residual stream its neurons read; the float tensors
of one layer exist only while that layer's backward runs.
"""
import contextlib
import threading
from typing import Callable, Iterable, Optional, Tuple, Union

import torch
import torch.utils.checkpoint as torch_checkpoint
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..neurons.stateful import StatefulModule, has_spiking_state
from ..ops.spike_pack import PackedSpikes, pack_if_spikes, unpack_spikes

#: The values of ``memory['checkpoint']``: no checkpointing, per block, per layer.
CHECKPOINT_MODES = (None, 'block', 'layer')
#: The keys of a backbone's ``memory`` dict.
MEMORY_KEYS = ('checkpoint', 'compress_spikes')

_BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


def resolve_memory(owner: str, memory: Optional[dict], with_cp: bool,
                   compress_spikes: bool) -> dict:
    """The memory policy of a backbone: ``memory`` (None or a dict with the keys of
    :data:`MEMORY_KEYS`) merged with the older ``with_cp`` (= ``checkpoint='block'``) and
    ``compress_spikes`` arguments.  Raises a ValueError naming ``owner`` on unknown keys or
    values and on contradicting arguments."""
    memory = dict(memory or {})
    unknown = sorted(set(memory) - set(MEMORY_KEYS))
    if unknown:
        raise ValueError(f'{owner}: unknown memory keys {unknown}; expected some of '
                         f'{MEMORY_KEYS}')
    checkpoint = memory.get('checkpoint', 'block' if with_cp else None)
    if checkpoint not in CHECKPOINT_MODES:
        raise ValueError(f'{owner}: memory checkpoint must be one of {CHECKPOINT_MODES}, got '
                         f'{checkpoint!r}')
    if with_cp and checkpoint != 'block':
        raise ValueError(f"{owner}: with_cp=True means memory=dict(checkpoint='block'), which "
                         f'contradicts checkpoint={checkpoint!r}; set one of them')
    compress = memory.get('compress_spikes', compress_spikes)
    if not isinstance(compress, bool):
        raise ValueError(f'{owner}: memory compress_spikes must be True or False, got '
                         f'{compress!r}')
    if 'compress_spikes' in memory and compress_spikes and not compress:
        raise ValueError(f'{owner}: compress_spikes=True contradicts '
                         f'memory=dict(compress_spikes=False)')
    return dict(checkpoint=checkpoint, compress_spikes=compress)


def _neuron_state(module):
    if isinstance(module, StatefulModule):
        return module.get_state()
    return dict(module._memories)  # spikingjelly MemoryModule


def _set_neuron_state(module, state):
    if isinstance(module, StatefulModule):
        module.set_state(state)
    else:
        for key, value in state.items():
            module._memories[key] = value


class StateKeeper:
    """The state ``modules`` hold before a checkpointed segment runs, for its second run.

    Created just before the first run: records the neuron states (:func:`has_spiking_state`
    modules: mmspike's and spikingjelly's), the BatchNorm running statistics and the random
    number generators' states (of the CPU and of the CUDA devices in ``devices``);
    :meth:`first_run_done` records the neuron states the first run ends with.
    :meth:`recomputing` is the context of the second run: it starts from the recorded states,
    and on leaving puts back the BatchNorm buffers and neuron states of the first run (the
    second run updates copies of the buffers; no in-place write, as BatchNorm saves its
    buffers for backward) and the random number generators' states of before.
    """

    def __init__(self, modules: Iterable[nn.Module], devices: Iterable[torch.device] = ()):
        modules = list(modules)
        found = {id(m): m for module in modules for m in module.modules()}.values()
        self.neurons = [m for m in found if has_spiking_state(m)]
        self.states = [_neuron_state(m) for m in self.neurons]
        self.norms = [m for m in found if isinstance(m, _BatchNorm) and m.track_running_stats]
        self.buffers = [[getattr(m, name).clone() for name in _BN_BUFFERS] for m in self.norms]
        self.cuda_devices = sorted({d.index or 0 for d in devices if d.type == 'cuda'})
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = [torch.cuda.get_rng_state(d) for d in self.cuda_devices]

    def first_run_done(self) -> None:
        """Record the neuron states the first run left, for :meth:`recomputing` to put back."""
        self.final_states = [_neuron_state(m) for m in self.neurons]

    @contextlib.contextmanager
    def recomputing(self):
        for module, state in zip(self.neurons, self.states):
            _set_neuron_state(module, state)
        kept = [[getattr(m, name) for name in _BN_BUFFERS] for m in self.norms]
        for module, values in zip(self.norms, self.buffers):
            for name, value in zip(_BN_BUFFERS, values):
                setattr(module, name, value.clone())
        with torch.random.fork_rng(devices=self.cuda_devices):
            torch.set_rng_state(self.cpu_rng)
            for device, state in zip(self.cuda_devices, self.cuda_rng):
                torch.cuda.set_rng_state(state, device)
            try:
                yield
            finally:
                for module, values in zip(self.norms, kept):
                    for name, value in zip(_BN_BUFFERS, values):
                        setattr(module, name, value)
                # The second run's final neuron states carry its graph (every tensor it
                # saved); left in the neurons they would keep it alive until the next reset.
                for module, state in zip(self.neurons, self.final_states):
                    _set_neuron_state(module, state)


def checkpoint_stateful(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with gradient checkpointing of the whole module, for modules that hold
    state (see :class:`StateKeeper`): loss, gradients and running statistics equal those of
    ``module(x)`` without checkpointing."""
    keeper = StateKeeper([module], [x.device])
    calls = [0]

    def run(inputs):
        calls[0] += 1
        if calls[0] == 1:
            output = module(inputs)
            keeper.first_run_done()
            return output
        with keeper.recomputing():
            return module(inputs)

    # Non-reentrant: the same peak as the reentrant variant on SpikeVideoFormer small
    # (tools/benchmark_memory.py: 684.5 vs 695.2 MiB), and parameters get their gradients
    # when the input needs none (after a frozen stem), where the reentrant one gives none.  The
    # keeper handles the random number generators.
    return torch_checkpoint.checkpoint(run, x, use_reentrant=False, preserve_rng_state=False)


_ACTIVE = threading.local()


@contextlib.contextmanager
def layer_checkpointing(max_spike_value: int = 1, stats: Optional[dict] = None):
    """Inside this context :func:`checkpoint_layer` checkpoints its layer (during a forward
    with gradients), keeping spike inputs of values ``0..max_spike_value`` packed.  ``stats``
    (a dict), if given, counts ``layers``, ``packed_bytes``, ``dense_bytes`` (what the packed
    inputs would take unpacked) and ``unpacked_bytes`` (inputs that were not spikes, kept as
    they are)."""
    previous = getattr(_ACTIVE, 'policy', None)
    _ACTIVE.policy = (int(max_spike_value), stats)
    try:
        yield
    finally:
        _ACTIVE.policy = previous


def _keep(x: torch.Tensor, max_spike_value: int, stats: Optional[dict]):
    """``x`` packed if it holds spikes of ``0..max_spike_value`` in a dense layout, else ``x``
    detached (kept as it is)."""
    dense_bytes = x.numel() * x.element_size()
    kept = pack_if_spikes(x, max_spike_value)
    if kept is not None:
        if stats is not None:
            stats['packed_bytes'] = stats.get('packed_bytes', 0) + kept.nbytes
            stats['dense_bytes'] = stats.get('dense_bytes', 0) + dense_bytes
        return kept
    if stats is not None:
        stats['unpacked_bytes'] = stats.get('unpacked_bytes', 0) + dense_bytes
    return x.detach()


class _LayerCheckpoint(torch.autograd.Function):
    """Runs a layer without keeping its graph; its backward runs it again from the kept
    inputs and back-propagates through that run (parameters receive their gradients there,
    as in reentrant checkpointing).  The kept inputs live on ``ctx`` (packed, not saved
    tensors), so no saved-tensor hook sees them."""

    @staticmethod
    def forward(ctx, layer, *inputs):
        function, modules, max_spike_value, stats = layer
        ctx.function = function
        ctx.needs_grad = [x.requires_grad for x in inputs]
        ctx.kept = [_keep(x, max_spike_value, stats) for x in inputs]
        ctx.keeper = StateKeeper(modules, {x.device for x in inputs})
        outputs = function(*inputs)
        ctx.keeper.first_run_done()
        ctx.tuple_output = isinstance(outputs, tuple)
        if stats is not None:
            stats['layers'] = stats.get('layers', 0) + 1
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        inputs = [(unpack_spikes(kept) if isinstance(kept, PackedSpikes) else kept)
                  .detach().requires_grad_(needs) for kept, needs in zip(ctx.kept, ctx.needs_grad)]
        ctx.kept = None
        with torch.enable_grad(), ctx.keeper.recomputing():
            outputs = ctx.function(*inputs)
        outputs = outputs if ctx.tuple_output else (outputs, )
        pairs = [(out, grad) for out, grad in zip(outputs, grads)
                 if grad is not None and out.requires_grad]
        if pairs:
            torch.autograd.backward([out for out, _ in pairs], [grad for _, grad in pairs])
        return (None, ) + tuple(x.grad if needs else None
                                for x, needs in zip(inputs, ctx.needs_grad))


def checkpoint_layer(function: Callable, *spikes: torch.Tensor,
                     modules: Iterable[nn.Module]
                     ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
    """``function(*spikes)``, checkpointed inside :func:`layer_checkpointing`.

    ``spikes`` are the outputs of neurons; ``modules`` are the modules ``function`` runs (their
    neurons and BatchNorms are restored for the second run).  Outside the context, without
    gradients, or when no input needs a gradient (a frozen stage before it: the parameters
    would get none through the custom backward), ``function`` just runs.  The stems, which
    run on the frames, are not checkpointed: measured on SpikeVideoFormer small, checkpointing
    them with torch's non-reentrant checkpointing raised the peak by 87 MiB (and kept 100 MiB
    between steps).
    """
    policy = getattr(_ACTIVE, 'policy', None)
    if policy is None or not torch.is_grad_enabled():
        return function(*spikes)
    max_spike_value, stats = policy
    if not any(x.requires_grad for x in spikes):  # the custom backward would never run
        return function(*spikes)
    return _LayerCheckpoint.apply((function, list(modules), max_spike_value, stats), *spikes)


class NeuronThenLayer(nn.Sequential):
    """A neuron followed by the modules of one layer (``Sequential(neuron, conv, bn, ...)``):
    with layer checkpointing (:func:`checkpoint_layer`) the modules after the neuron are
    checkpointed together, with the neuron's spikes as their kept input.  Otherwise, and in
    its parameter names, an ``nn.Sequential``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        neuron, *rest = list(self)

        def layer(spikes):
            for module in rest:
                spikes = module(spikes)
            return spikes

        return checkpoint_layer(layer, neuron(x), modules=rest)
