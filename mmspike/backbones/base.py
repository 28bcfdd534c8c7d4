"""What every mmspike backbone shares: the arch table, ``out_indices``, ``frozen_stages``,
``norm_eval``, ``with_cp`` (gradient checkpointing that is correct for stateful neurons) and
frame-by-frame ``streaming`` for causal backbones (the task models' streaming checks are in
:mod:`mmspike.estimators.streaming`)."""
import contextlib
from typing import Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as torch_checkpoint
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..data_preprocessors.clip_data_preprocessor import nonfinite_report
from ..layers.temporal import SeqToANN
from ..neurons.stateful import StatefulModule, has_spiking_state, reset_neurons

#: The keys of every backbone's ``arch_zoo`` entry (one convention for all mmspike backbones):
#: ``embed_dims`` and ``depths`` per stage, ``num_heads`` per stage (0 for a stage without
#: attention) and ``mlp_ratio``.
ARCH_KEYS = ('embed_dims', 'depths', 'num_heads', 'mlp_ratio')


def check_finite_input(owner: nn.Module, x: torch.Tensor) -> None:
    """Raise a ValueError naming ``owner`` when the floating-point input ``x`` (``[N, ...]``)
    holds NaN or Inf values, with how many in which clips of the batch (the data
    preprocessors of the codebases, e.g. MMAction2's, do not check).  Skipped while tracing
    or compiling (a data-dependent branch)."""
    if not x.is_floating_point() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    report = nonfinite_report(x)
    if report is not None:
        raise ValueError(f'{type(owner).__name__}: the input (shape {tuple(x.shape)}) holds '
                         f'non-finite values: {report}; the data (or what produced it) must be '
                         f'finite, NaN/Inf input makes the spikes and the loss NaN')


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


def checkpoint_stateful(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with gradient checkpointing, for modules that hold state.

    ``torch.utils.checkpoint`` runs the forward a second time during backward.  Spiking neurons
    keep their membrane between calls, and BatchNorm updates its running statistics (which
    :class:`BNAndPad` also reads in its forward), so a plain re-run would start from the state
    left by the first run.  Here the re-run starts from the same neuron states and BatchNorm
    buffers as the first run, and the buffers are put back afterwards, so loss, gradients and
    running statistics equal those of ``module(x)`` without checkpointing.
    """
    stateful = [m for m in module.modules() if has_spiking_state(m)]
    states = [_neuron_state(m) for m in stateful]
    norms = [m for m in module.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]

    names = ('running_mean', 'running_var', 'num_batches_tracked')
    before = [[getattr(m, name).clone() for name in names] for m in norms]
    calls = [0]

    def run(inputs):
        calls[0] += 1
        for m, state in zip(stateful, states):
            _set_neuron_state(m, state)
        if calls[0] == 1:
            return module(inputs)
        # The recomputation in backward runs on copies of the statistics the first run started
        # from; the module's own buffers (already updated once) are put back untouched.  No
        # in-place write: BatchNorm saves its buffers for backward.
        kept = [[getattr(m, name) for name in names] for m in norms]
        for m, values in zip(norms, before):
            for name, value in zip(names, values):
                setattr(m, name, value.clone())
        try:
            return module(inputs)
        finally:
            for m, values in zip(norms, kept):
                for name, value in zip(names, values):
                    setattr(m, name, value)

    # The reentrant variant frees each block's recomputed activations as its backward proceeds;
    # measured on SpikeVideoFormer small (tools/benchmark_memory.py) the non-reentrant one held
    # about as much memory in backward as no checkpointing at all.  The reentrant variant gives
    # parameters no gradient when the input needs none (e.g. after a frozen stem), so that case
    # uses the non-reentrant one.
    return torch_checkpoint.checkpoint(run, x, use_reentrant=x.requires_grad)


def _start_spike_compression(backbone, args):
    if backbone.compress_spikes and backbone.training and torch.is_grad_enabled():
        from mmspike.energy import spike_value_range
        from mmspike.ops.spike_pack import compressed_saved_spikes
        context = compressed_saved_spikes(spike_value_range(backbone))
        context.__enter__()
        backbone._compressions.append(context)


def _stop_spike_compression(backbone, args, output):
    if backbone._compressions:
        backbone._compressions.pop().__exit__(None, None, None)


class BaseSpikingBackbone(BaseModule):
    """Base of mmspike's video backbones (input ``(N, C, T, H, W)``, output a tuple of
    ``[T, N, C_i, H_i, W_i]`` maps, one per index in ``out_indices``).

    Subclasses define ``arch_zoo`` (entries with the keys of :data:`ARCH_KEYS`), build their
    layers, and implement :meth:`stem_and_stages` (the modules of the stem and of each stage,
    for ``frozen_stages``).  Blocks run through :meth:`run_blocks`, which applies ``with_cp``.

    Args:
        num_stages (int): the number of stages.
        out_indices (int | Sequence[int]): stages whose output is returned (negative indices
            count from the end); the output is always a tuple.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``i`` the stem and stages 0..i-1
            (OpenMMLab's convention; frozen parts stay in eval mode).
        norm_eval (bool): keep every BatchNorm in eval mode during training (frozen statistics).
        with_cp (bool): gradient checkpointing per block during training (see
            :func:`checkpoint_stateful`).  Checkpointing runs each block first under no_grad,
            then again with grad; oneDNN's channels-last convolutions round differently in
            those two modes and a last-bit difference before a threshold flips spikes, so with
            ``with_cp`` every :class:`SeqToANN` runs on contiguous maps (set when ``with_cp``
            is set and when the backbone enters ``train()``, as runners do).
        init_cfg (dict | list, optional): mmengine init config.
        compress_spikes (bool): while a training forward runs with gradients, keep the spike
            tensors autograd saves in the bits they need
            (:func:`~mmspike.ops.spike_pack.compressed_saved_spikes`): lossless, less memory.
            Combines with ``with_cp``.
    """

    arch_zoo: dict = {}

    def __init__(self, num_stages: int, out_indices: Union[int, Sequence[int]],
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg=None, compress_spikes: bool = False):
        super().__init__(init_cfg=init_cfg)
        self.num_stages = int(num_stages)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        indices = []
        for index in out_indices:
            if not -self.num_stages <= int(index) < self.num_stages:
                raise ValueError(f'{type(self).__name__}: out_indices must be in '
                                 f'[-{self.num_stages}, {self.num_stages - 1}], got {out_indices}')
            indices.append(int(index) % self.num_stages)
        if not indices:
            raise ValueError(f'{type(self).__name__}: out_indices is empty')
        self.out_indices: Tuple[int, ...] = tuple(indices)
        if not -1 <= int(frozen_stages) <= self.num_stages:
            raise ValueError(f'{type(self).__name__}: frozen_stages must be in '
                             f'[-1, {self.num_stages}], got {frozen_stages}')
        self.frozen_stages = int(frozen_stages)
        self.norm_eval = bool(norm_eval)
        self.with_cp = bool(with_cp)
        self._compressions = []
        self._compression_hooks = []
        self.compress_spikes = compress_spikes
        self.is_streaming = False

    @property
    def causal(self) -> bool:
        """Whether no output of frame ``t`` depends on a later frame (in eval mode), so that
        :meth:`streaming` may feed a video in pieces.  False unless a subclass says otherwise."""
        return False

    @contextlib.contextmanager
    def streaming(self):
        """Run a video in pieces (e.g. one frame per call) with the state carried between calls.

        Inside the ``with`` block a forward does not reset the neurons (nor the other
        :class:`~mmspike.neurons.StatefulModule` s) and accepts any number of frames,
        so the outputs for the frames of consecutive calls equal those of one call on the
        whole video, with memory that does not grow with the video's length.  The state is reset
        on entering and on leaving.  Only for :attr:`causal` backbones, in eval mode (in
        training mode BatchNorm mixes frames through its batch statistics).
        """
        name = type(self).__name__
        if not self.causal:
            raise ValueError(f'{name} is not causal (frame t sees later frames), so it cannot '
                             f'run frame by frame; use a causal configuration (e.g. '
                             f"SpikeVideoFormer attention='causal')")
        if self.training:
            raise RuntimeError(f'{name}.streaming() needs eval mode (call .eval() first): '
                               f'BatchNorm in training mode mixes frames')
        if self.is_streaming:
            raise RuntimeError(f'{name} is already streaming')
        reset_neurons(self)
        self.is_streaming = True
        try:
            yield self
        finally:
            self.is_streaming = False
            reset_neurons(self)

    @classmethod
    def resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """An ``arch_zoo`` name or a dict with the keys of :data:`ARCH_KEYS` -> a checked dict
        (tuples of length ``num_stages`` for the per-stage keys)."""
        name = cls.__name__
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'{name}: unknown arch {arch!r}; expected one of '
                                 f'{sorted(cls.arch_zoo)} or a dict with keys {ARCH_KEYS}')
            arch = cls.arch_zoo[arch]
        if not isinstance(arch, dict):
            raise TypeError(f'{name}: arch must be a name or a dict, got {type(arch).__name__}')
        unknown = set(arch) - set(ARCH_KEYS)
        missing = {'embed_dims', 'depths'} - set(arch)
        if unknown or missing:
            raise ValueError(f'{name}: arch dict must have keys {ARCH_KEYS} (num_heads and '
                             f'mlp_ratio optional); missing {sorted(missing)}, unknown '
                             f'{sorted(unknown)}')
        resolved = dict(arch)
        for key in ('embed_dims', 'depths', 'num_heads'):
            if key in resolved:
                resolved[key] = tuple(int(v) for v in resolved[key])
        return resolved

    def stem_and_stages(self):
        """``[stem modules, stage 0 modules, stage 1 modules, ...]`` for ``frozen_stages``."""
        raise NotImplementedError

    def _freeze_stages(self):
        for modules in self.stem_and_stages()[:self.frozen_stages + 1]:
            for module in modules:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    @property
    def with_cp(self) -> bool:
        return self._with_cp

    @with_cp.setter
    def with_cp(self, value: bool) -> None:
        self._with_cp = bool(value)
        self._pin_contiguous_maps()

    @property
    def compress_spikes(self) -> bool:
        return self._compress_spikes

    @compress_spikes.setter
    def compress_spikes(self, value: bool) -> None:
        """Installs the hooks that pack the saved spikes of a training forward when set, removes
        them when cleared: a backbone without it runs no hook."""
        self._compress_spikes = bool(value)
        if self._compress_spikes and not self._compression_hooks:
            self._compression_hooks = [
                self.register_forward_pre_hook(_start_spike_compression),
                self.register_forward_hook(_stop_spike_compression, always_call=True)]
        elif not self._compress_spikes:
            for handle in self._compression_hooks:
                handle.remove()
            self._compression_hooks = []

    def _pin_contiguous_maps(self) -> None:
        """With ``with_cp``, make every :class:`SeqToANN` run on contiguous maps (see the
        ``with_cp`` argument): the two runs of a checkpointed block then compute the same
        bits."""
        if self._with_cp:
            for module in self.modules():
                if isinstance(module, SeqToANN):
                    module.channels_last = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._pin_contiguous_maps()
        if self.frozen_stages >= 0:
            self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def run_blocks(self, blocks: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Run the blocks of a stage in order, checkpointed one by one when ``with_cp``."""
        for block in blocks:
            if self.with_cp and self.training and torch.is_grad_enabled():
                x = checkpoint_stateful(block, x)
            else:
                x = block(x)
        return x

    def to_time_major(self, x: torch.Tensor) -> torch.Tensor:
        """Check that the input is finite (:func:`check_finite_input`), reset every neuron
        (except while :meth:`streaming`), then ``(N, C, T, H, W)`` -> ``[T, N, C, H, W]``."""
        check_finite_input(self, x)
        if not self.is_streaming:
            reset_neurons(self)
        return x.permute(2, 0, 1, 3, 4).contiguous()
