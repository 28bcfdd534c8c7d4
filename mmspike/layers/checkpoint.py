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
import torch.nn.functional as F
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
_AUTOCAST_DEVICES = ('cpu', 'cuda')


def _autocast_state() -> list:
    """``[(device type, dtype), ...]`` of the mixed-precision contexts active now."""
    return [(device, torch.get_autocast_dtype(device)) for device in _AUTOCAST_DEVICES
            if torch.is_autocast_enabled(device)]


@contextlib.contextmanager
def _autocast_as(state: list):
    """The mixed-precision contexts of :func:`_autocast_state` again (backward runs outside
    them: a layer's second run must compute in the dtypes of its first)."""
    with contextlib.ExitStack() as stack:
        for device, dtype in state:
            stack.enter_context(torch.autocast(device, dtype=dtype))
        yield


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
        ctx.autocast = _autocast_state()
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
        with torch.enable_grad(), ctx.keeper.recomputing(), _autocast_as(ctx.autocast):
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


#: the largest slice (bytes) of a map that the per-sample operations of a checkpointed branch
#: (convolutions forward and to their input, the neuron loop) produce at once
BRANCH_SLICE_BYTES = 16 * 2**20
#: a branch's first-stage output larger than this is computed again for its BatchNorm's
#: backward instead of being kept through the branch's backward: one more forward of the
#: first stage's convolutions for one full-size map less at the branch's peak (smaller maps
#: are kept: there the extra forward would cost more time than the map costs memory)
BRANCH_RECOMPUTE_BYTES = 64 * 2**20


def _branch_stage(stage: nn.Module) -> Optional[Tuple[list, nn.BatchNorm2d]]:
    """The convolutions and the BatchNorm of a branch stage ``SeqToANN(Conv2d, ...,
    BatchNorm2d)`` on contiguous maps, or None for any other stage."""
    from .temporal import SeqToANN
    if not isinstance(stage, SeqToANN) or stage.channels_last is not False:
        return None
    modules = list(stage.module) if isinstance(stage.module, nn.Sequential) else [stage.module]
    *convs, norm = modules
    if not convs or type(norm) is not nn.BatchNorm2d or not norm.training:
        return None
    if not all(type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'
               and isinstance(conv.padding, tuple) for conv in convs):
        return None
    return convs, norm


def _fused_neuron(neuron: nn.Module) -> bool:
    """Whether :func:`checkpoint_branch` can run ``neuron``'s loop itself: an mmspike neuron
    with the fused formulas, no learnable time constant (its gradient sums over time, which
    slicing the loop would reorder), no stored membrane sequence and no state that takes a
    gradient."""
    from ..neurons.multistep import BaseMultiStepNeuron, _has_fused_formulas
    if not isinstance(neuron, BaseMultiStepNeuron) or neuron.backend != 'fused':
        return False
    if not _has_fused_formulas(type(neuron)) or neuron.store_v_seq:
        return False
    if neuron.rate_param() is not None:
        return False
    return neuron.v is None or not neuron.v.requires_grad


def _rows_per_slice(rows: int, row_bytes: int) -> int:
    return max(1, min(rows, BRANCH_SLICE_BYTES // max(row_bytes, 1)))


def _samples_per_slice(x: torch.Tensor) -> int:
    """Samples of a convolution's input ``x`` per slice: a slice's maps (up to 4x the input's
    channels, the widest expansion of the branches) stay within :data:`BRANCH_SLICE_BYTES`."""
    return _rows_per_slice(x.shape[0], max(x[0].numel(), 1) * 4 * x.element_size())


def _conv_forward(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` computed a few samples at a time into one output: each sample's output
    is the same as in one call (oneDNN and PyTorch's own kernels compute samples
    independently, as tested), without the full-size temporary copies oneDNN makes."""
    out = None
    rows, step = x.shape[0], _samples_per_slice(x)
    for start in range(0, rows, step):
        part = F.conv2d(x[start:start + step], conv.weight, conv.bias, conv.stride, conv.padding,
                        conv.dilation, conv.groups)
        if out is None:
            out = part.new_empty((rows, ) + tuple(part.shape[1:]))
        out[start:start + step] = part
    return out


def _conv_weight_grads(conv: nn.Conv2d, grad: torch.Tensor, x: torch.Tensor):
    """The gradients of ``conv``'s weight and bias (None where not needed), as autograd's
    convolution backward computes them (one call over the whole batch: a sum over samples)."""
    want_weight = conv.weight.requires_grad
    want_bias = conv.bias is not None and conv.bias.requires_grad
    if not (want_weight or want_bias):
        return None, None
    _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
        grad, x, conv.weight, None if conv.bias is None else [conv.bias.shape[0]],
        list(conv.stride), list(conv.padding), list(conv.dilation), False, [0, 0], conv.groups,
        [False, want_weight, want_bias])
    return (grad_weight if want_weight else None), (grad_bias if want_bias else None)


def _conv_input_grad(conv: nn.Conv2d, grad: torch.Tensor, x: torch.Tensor,
                     out: torch.Tensor) -> torch.Tensor:
    """The gradient of ``conv``'s input ``x``, a few samples at a time, written into ``out``
    (which may be ``x`` itself: a slice is written after its own gradient is computed)."""
    rows, step = x.shape[0], _samples_per_slice(x)
    for start in range(0, rows, step):
        out[start:start + step] = torch.ops.aten.convolution_backward(
            grad[start:start + step], x[start:start + step], conv.weight,
            None if conv.bias is None else [conv.bias.shape[0]], list(conv.stride),
            list(conv.padding), list(conv.dilation), False, [0, 0], conv.groups,
            [True, False, False])[0]
    return out


def _norm_forward(norm: nn.BatchNorm2d, y: torch.Tensor):
    """Training-mode BatchNorm of ``y``: output, saved mean and inverse std (the running
    statistics are the first run's business)."""
    return torch.ops.aten.native_batch_norm(y, norm.weight, norm.bias, None, None, True, 0.0,
                                            norm.eps)


def _norm_backward(norm: nn.BatchNorm2d, grad: torch.Tensor, y: torch.Tensor, mean, invstd):
    want_weight = norm.weight is not None and norm.weight.requires_grad
    want_bias = norm.bias is not None and norm.bias.requires_grad
    grad_y, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
        grad, y, norm.weight, None, None, mean, invstd, True, norm.eps,
        [True, want_weight, want_bias])
    return grad_y, (grad_weight if want_weight else None), (grad_bias if want_bias else None)


def _stage_forward(convs, x: torch.Tensor):
    """The inputs of ``convs`` (``x`` first) and their output, computed slice by slice."""
    inputs = [x]
    for conv in convs:
        inputs.append(_conv_forward(conv, inputs[-1]))
    return inputs, inputs.pop()


def _stage_backward(convs, norm, grad_z, y, mean, invstd, inputs, grads: dict,
                    input_grad_in_place: bool, input_grad: bool = True):
    """Backward of a stage ``convs -> norm`` from the gradient of its output: the parameters'
    gradients go into ``grads`` (by ``id``), each input of ``inputs`` is released once used,
    and the gradient of the stage's input is returned (None unless ``input_grad``), written
    over that input when ``input_grad_in_place`` (an unpacked copy that nothing else reads;
    the stage's own intermediate maps are always written over)."""
    grad, grads[id(norm.weight)], grads[id(norm.bias)] = _norm_backward(norm, grad_z, y, mean,
                                                                        invstd)
    del y
    for index in range(len(convs) - 1, -1, -1):
        conv, x_in = convs[index], inputs[index]
        grads[id(conv.weight)], grad_bias = _conv_weight_grads(conv, grad, x_in)
        if conv.bias is not None:
            grads[id(conv.bias)] = grad_bias
        if index or input_grad:
            out = x_in if input_grad_in_place or index else torch.empty_like(x_in)
            grad = _conv_input_grad(conv, grad, x_in, out=out)
        inputs[index] = None
        del x_in
    return grad if input_grad else None


def _stage_params(convs, norm) -> list:
    params = []
    for conv in convs:
        params += [conv.weight, conv.bias]
    return params + [norm.weight, norm.bias]


class _BranchCheckpoint(torch.autograd.Function):
    """``stage_b(neuron(stage_a(spikes)))`` for stages ``SeqToANN(Conv2d, ..., BatchNorm2d)``,
    checkpointed as one unit whose backward runs the parts itself (the same ATen operations
    autograd runs, so the results are the same bit for bit) in the order that keeps the
    fewest full-size maps alive:

    1. ``y_a = convs_a(s)``, its BatchNorm statistics, then the neuron loop, writing the
       membranes ``H`` over the BatchNorm output; ``y_a`` is dropped when it is larger than
       :data:`BRANCH_RECOMPUTE_BYTES`;
    2. ``stage_b`` forward from the kept (packed) hidden spikes, its BatchNorm backward, the
       weight gradients of its convolutions, and the gradient of the hidden spikes written over
       the unpacked spikes;
    3. the neuron's reverse loop, writing ``dL/dz`` over that gradient; ``H`` is dropped;
    4. ``y_a`` again if it was dropped (one more forward of ``convs_a``), the BatchNorm
       backward and the gradients of ``convs_a``.

    The convolutions forward and to their input, and the neuron loop, run a few samples (time
    steps) at a time (:data:`BRANCH_SLICE_BYTES`), which leaves each sample's result unchanged;
    the reductions over the batch (weight gradients, BatchNorm) run over the whole batch, as
    autograd's do.  The parameters are inputs of the function, so their gradients reach them
    through autograd (accumulation, DDP's hooks).  At most three full-size hidden maps live at
    once (four when ``y_a`` is kept), against six for the two layers checkpointed apart
    (SpikeVideoFormer large, T=32, 224 x 224: the step's peak from 2.79 to 2.50 GiB).
    """

    @staticmethod
    def forward(ctx, parts, spikes, *params):
        stage_a, neuron, stage_b, max_spike_value, stats = parts
        ctx.parts = (stage_a, neuron, stage_b)
        ctx.kept_input = _keep(spikes, max_spike_value, stats)
        ctx.shape = tuple(spikes.shape[:2])
        ctx.keeper = StateKeeper([stage_a, neuron, stage_b], {spikes.device})
        hidden = neuron(stage_a(spikes))
        ctx.kept_hidden = _keep(hidden, max_spike_value, stats)
        out = stage_b(hidden)
        ctx.keeper.first_run_done()
        if stats is not None:
            stats['layers'] = stats.get('layers', 0) + 1
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        stage_a, neuron, stage_b = ctx.parts
        convs_a, norm_a = _branch_stage(stage_a)
        convs_b, norm_b = _branch_stage(stage_b)
        kept_input, kept_hidden = ctx.kept_input, ctx.kept_hidden
        ctx.kept_input = ctx.kept_hidden = None
        steps, batch = ctx.shape
        with torch.no_grad(), ctx.keeper.recomputing():
            inputs_a, y_a = _stage_forward(convs_a, _unkeep(kept_input).flatten(0, 1))
            z_a, mean_a, invstd_a = _norm_forward(norm_a, y_a)
            recompute_a = y_a.numel() * y_a.element_size() > BRANCH_RECOMPUTE_BYTES
            if recompute_a:
                del y_a, inputs_a
            h_seq = z_a.unflatten(0, (steps, batch))  # H written over the BatchNorm output
            del z_a
            v = neuron.v if neuron.v is not None else torch.full_like(h_seq[0], neuron.v_reset)
            per_step = max(h_seq[0].numel() * h_seq.element_size(), 1)
            step_slice = _rows_per_slice(steps, per_step)
            slices, starts, kernel_args = [], [], None
            for start in range(0, steps, step_slice):
                stop = min(steps, start + step_slice)
                slices.append((start, stop))
                starts.append(v)
                _, v, h, kernel_args = neuron._forward_no_grad(h_seq[start:stop], v, False,
                                                               keep_h=True)
                h_seq[start:stop] = h
            del v, h

            grads = {}
            inputs_b, y_b = _stage_forward(convs_b, _unkeep(kept_hidden).flatten(0, 1))
            z_b, mean_b, invstd_b = _norm_forward(norm_b, y_b)
            del z_b
            # the hidden spikes' gradient over the unpacked hidden spikes
            grad_hidden = _stage_backward(convs_b, norm_b, grad_out.flatten(0, 1), y_b, mean_b,
                                          invstd_b, inputs_b, grads, input_grad_in_place=True)
            del y_b, inputs_b
            grad_hidden = grad_hidden.unflatten(0, (steps, batch))

            from ..neurons.multistep import _loop_backward
            grad_v = None
            for (start, stop), v0 in reversed(list(zip(slices, starts))):
                if kernel_args is not None:
                    from ..ops import neuron_kernels
                    grad_x, grad_v, _ = neuron_kernels.backward(
                        h_seq[start:stop], v0, None, grad_hidden[start:stop], grad_v, False,
                        kernel_args)
                else:
                    grad_x, grad_v, _ = _loop_backward(neuron, h_seq[start:stop], v0, None,
                                                       grad_hidden[start:stop], grad_v, False)
                grad_hidden[start:stop] = grad_x  # dL/dz over dL/d(hidden spikes)
            del h_seq, grad_x, grad_v, starts

            if recompute_a:
                inputs_a, y_a = _stage_forward(convs_a, _unkeep(kept_input).flatten(0, 1))
            grad_spikes = _stage_backward(convs_a, norm_a, grad_hidden.flatten(0, 1), y_a, mean_a,
                                          invstd_a, inputs_a, grads,
                                          input_grad_in_place=isinstance(kept_input,
                                                                         PackedSpikes),
                                          input_grad=ctx.needs_input_grad[1])
            del y_a, grad_hidden, inputs_a
            if grad_spikes is not None:
                grad_spikes = grad_spikes.unflatten(0, (steps, batch))
        params = _stage_params(convs_a, norm_a) + _stage_params(convs_b, norm_b)
        return (None, grad_spikes) + tuple(
            None if p is None or not p.requires_grad else grads.get(id(p)) for p in params)


def _unkeep(kept):
    """A kept input as a tensor again (packed spikes unpacked)."""
    return unpack_spikes(kept) if isinstance(kept, PackedSpikes) else kept




def checkpoint_branch(stage_a: nn.Module, neuron: nn.Module, stage_b: nn.Module,
                      spikes: torch.Tensor) -> torch.Tensor:
    """``stage_b(neuron(stage_a(spikes)))``, the spiking branch of a block after its first
    neuron, checkpointed inside :func:`layer_checkpointing`.

    Stages ``SeqToANN(Conv2d, ..., BatchNorm2d)`` on contiguous maps with a neuron whose loop
    mmspike runs itself (:func:`_fused_neuron`), outside mixed precision, are checkpointed as
    one unit (:class:`_BranchCheckpoint`: three full-size hidden maps at most in backward); any
    other branch as two layers (:func:`checkpoint_layer`).  Outside the context, or without
    gradients, the branch just runs.
    """
    policy = getattr(_ACTIVE, 'policy', None)
    if policy is None or not torch.is_grad_enabled():
        return stage_b(neuron(stage_a(spikes)))
    parts_a, parts_b = _branch_stage(stage_a), _branch_stage(stage_b)
    if (parts_a is not None and parts_b is not None and _fused_neuron(neuron)
            and spikes.dim() == 5 and spikes.dtype in (torch.float32, torch.float64)
            and not _autocast_state()):
        params = _stage_params(*parts_a) + _stage_params(*parts_b)
        if spikes.requires_grad or any(p is not None and p.requires_grad for p in params):
            max_spike_value, stats = policy
            return _BranchCheckpoint.apply((stage_a, neuron, stage_b, max_spike_value, stats),
                                           spikes, *params)
    hidden = checkpoint_layer(lambda s: neuron(stage_a(s)), spikes, modules=[stage_a, neuron])
    return checkpoint_layer(stage_b, hidden, modules=[stage_b])


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
