"""What every mmspike backbone shares: the arch table, ``out_indices``, ``frozen_stages``,
``norm_eval``, the memory policy (gradient checkpointing that is correct for stateful neurons,
per block or per layer, and lossless spike compression) and
frame-by-frame ``streaming`` for causal backbones (the task models' streaming checks are in
:mod:`mmspike.estimators.streaming`)."""
import contextlib
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..data_preprocessors.clip_data_preprocessor import nonfinite_report
from ..layers.checkpoint import (CHECKPOINT_MODES, checkpoint_stateful, layer_checkpointing,
                                 resolve_memory)
from ..layers.temporal import SeqToANN
from ..neurons.stateful import reset_neurons

__all__ = ['ARCH_KEYS', 'BaseSpikingBackbone', 'check_finite_input', 'checkpoint_stateful']

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


def _start_memory_saving(backbone, args):
    """Forward pre-hook of a training forward with gradients: enter spike compression of the
    saved tensors if the policy asks for it, and clear :attr:`memory_stats` (layer
    checkpointing enters its context in :meth:`BaseSpikingBackbone.run_blocks`)."""
    if not (backbone.training and torch.is_grad_enabled()):
        return
    stack = contextlib.ExitStack()
    if backbone.compress_spikes:
        from mmspike.energy import spike_value_range
        from mmspike.ops.spike_pack import compressed_saved_spikes
        stack.enter_context(compressed_saved_spikes(spike_value_range(backbone)))
    backbone.memory_stats.clear()
    backbone._memory_contexts.append(stack)


def _stop_memory_saving(backbone, args, output):
    if backbone._memory_contexts:
        backbone._memory_contexts.pop().close()


class BaseSpikingBackbone(BaseModule):
    """Base of mmspike's video backbones (input ``(N, C, T, H, W)``, output a tuple of
    ``[T, N, C_i, H_i, W_i]`` maps, one per index in ``out_indices``).

    Subclasses define ``arch_zoo`` (entries with the keys of :data:`ARCH_KEYS`), build their
    layers, and implement :meth:`stem_and_stages` (the modules of the stem and of each stage,
    for ``frozen_stages``).  Blocks run through :meth:`run_blocks`, which applies block
    checkpointing; blocks mark their layers with
    :func:`~mmspike.layers.checkpoint.checkpoint_layer` for layer checkpointing.

    Args:
        num_stages (int): the number of stages.
        out_indices (int | Sequence[int]): stages whose output is returned (negative indices
            count from the end); the output is always a tuple.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``i`` the stem and stages 0..i-1
            (OpenMMLab's convention; frozen parts stay in eval mode).
        norm_eval (bool): keep every BatchNorm in eval mode during training (frozen statistics).
        with_cp (bool): gradient checkpointing per block during training, the same as
            ``memory=dict(checkpoint='block')``.
        init_cfg (dict | list, optional): mmengine init config.
        compress_spikes (bool): the same as ``memory=dict(compress_spikes=True)``.
        memory (dict, optional): how a training forward with gradients saves memory, all
            lossless (loss, gradients and BatchNorm statistics equal those of the plain step):

            * ``checkpoint``: None (default), ``'block'`` (each block runs again in backward
              from its input, :func:`~mmspike.layers.checkpoint.checkpoint_stateful`) or
              ``'layer'`` (each layer runs again from its spike inputs, kept in 1 bit per
              spike, :func:`~mmspike.layers.checkpoint.checkpoint_layer`; the least memory).
              A checkpointed segment runs first under no_grad, then again with grad;
              oneDNN's channels-last convolutions round differently in those two modes and a
              last-bit difference before a threshold flips spikes, so with checkpointing
              every :class:`SeqToANN` runs on contiguous maps (set with the policy and when
              the backbone enters ``train()``, as runners do).
            * ``compress_spikes``: keep the spike tensors autograd saves in the bits they need
              (:func:`~mmspike.ops.spike_pack.compressed_saved_spikes`).  Combines with
              either checkpoint.
    """

    arch_zoo: dict = {}

    def __init__(self, num_stages: int, out_indices: Union[int, Sequence[int]],
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg=None, compress_spikes: bool = False,
                 memory: Optional[dict] = None):
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
        policy = resolve_memory(type(self).__name__, memory, bool(with_cp), compress_spikes)
        self._memory_contexts = []
        self._memory_hooks = []
        #: What the last training forward's layer checkpointing kept (see
        #: :func:`~mmspike.layers.checkpoint.layer_checkpointing`).
        self.memory_stats = {}
        self._compress_spikes = policy['compress_spikes']
        self.checkpoint = policy['checkpoint']
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
    def checkpoint(self) -> Optional[str]:
        """The gradient checkpointing of the memory policy: None, ``'block'`` or ``'layer'``."""
        return self._checkpoint

    @checkpoint.setter
    def checkpoint(self, value: Optional[str]) -> None:
        if value not in CHECKPOINT_MODES:
            raise ValueError(f'{type(self).__name__}: checkpoint must be one of '
                             f'{CHECKPOINT_MODES}, got {value!r}')
        self._checkpoint = value
        self._pin_contiguous_maps()
        self._update_memory_hooks()

    @property
    def with_cp(self) -> bool:
        """Block checkpointing (``checkpoint == 'block'``); setting it False turns any
        checkpointing off."""
        return self._checkpoint == 'block'

    @with_cp.setter
    def with_cp(self, value: bool) -> None:
        self.checkpoint = 'block' if value else None

    @property
    def compress_spikes(self) -> bool:
        return self._compress_spikes

    @compress_spikes.setter
    def compress_spikes(self, value: bool) -> None:
        self._compress_spikes = bool(value)
        self._update_memory_hooks()

    @property
    def memory(self) -> dict:
        """The memory policy, as the ``memory`` argument takes it."""
        return dict(checkpoint=self._checkpoint, compress_spikes=self._compress_spikes)

    def _update_memory_hooks(self) -> None:
        """Install the hooks that enter the memory policy's contexts around a training forward
        when the policy needs them (spike compression, layer checkpointing), remove them when
        it does not: a backbone without either runs no hook."""
        wanted = self._compress_spikes or self._checkpoint == 'layer'
        if wanted and not self._memory_hooks:
            self._memory_hooks = [
                self.register_forward_pre_hook(_start_memory_saving),
                self.register_forward_hook(_stop_memory_saving, always_call=True)]
        elif not wanted:
            for handle in self._memory_hooks:
                handle.remove()
            self._memory_hooks = []

    def _pin_contiguous_maps(self) -> None:
        """With checkpointing, make every :class:`SeqToANN` run on contiguous maps (see the
        ``memory`` argument): the two runs of a checkpointed segment then compute the same
        bits."""
        if self._checkpoint is not None:
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
        """Run the blocks (or other modules) of a stage in order, checkpointed as the memory
        policy says during a training forward with gradients."""
        if not (self._checkpoint and self.training and torch.is_grad_enabled()):
            for block in blocks:
                x = block(x)
            return x
        if self._checkpoint == 'layer':
            from mmspike.energy import spike_value_range
            with layer_checkpointing(spike_value_range(self), self.memory_stats):
                for block in blocks:
                    x = block(x)
            return x
        for block in blocks:
            x = checkpoint_stateful(block, x)
        return x

    def to_time_major(self, x: torch.Tensor) -> torch.Tensor:
        """Check that the input is finite (:func:`check_finite_input`), reset every neuron
        (except while :meth:`streaming`), then ``(N, C, T, H, W)`` -> ``[T, N, C, H, W]``."""
        check_finite_input(self, x)
        if not self.is_streaming:
            reset_neurons(self)
        return x.permute(2, 0, 1, 3, 4).contiguous()
