"""SVFormer: a directly trained spiking transformer for video action recognition.

Yu et al., SVFormer: A Direct Training Spiking Transformer for Efficient Video Action
Recognition, 2024 (arXiv 2406.15034).  Architecture facts (layer order, bias flags, BatchNorm
layout, initialisation) follow the authors' released model ``Uniformer2d_psnn_try``.

Every tensor inside the backbone is multi-step, ``[T, N, C, H, W]`` (or ``[T, N, L, C]`` tokens
in the attention stages); each video frame is one time step.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..layers.checkpoint import NeuronThenLayer, checkpoint_layer
from ..layers.temporal import (SeqToANN, TemporalBatchNorm1d, TemporalBatchNorm2d,
                               check_video_input)
from ..neurons import PLIF_ATAN, build_neuron
from ..ops import dot_attention
from ..registry import MODELS
from .base import BaseSpikingBackbone


class StepDropPath(nn.Module):
    """Stochastic depth as in the official model: one keep/drop draw per *time step*.

    The official code applies timm's ``DropPath`` to ``[T, B, ...]`` tensors, whose first
    dimension is time, so a residual branch is dropped for whole frames (for all samples of the
    batch at once), and survivors are scaled by ``1 / (1 - drop_prob)``.  Identity in eval mode.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self):
        return f'drop_prob={self.drop_prob}'


class ConvMlp(nn.Module):
    """neuron -> 1x1 conv -> BN_T -> neuron -> 1x1 conv -> BN_T on ``[T, N, C, H, W]``."""

    def __init__(self, dim, hidden, num_frames, neuron_cfg):
        super().__init__()
        self.neuron1 = build_neuron(neuron_cfg)
        self.fc1 = SeqToANN(nn.Conv2d(dim, hidden, 1))
        self.bn1 = TemporalBatchNorm2d(hidden, num_frames)
        self.neuron2 = build_neuron(neuron_cfg)
        self.fc2 = SeqToANN(nn.Conv2d(hidden, dim, 1))
        self.bn2 = TemporalBatchNorm2d(dim, num_frames)

    def forward(self, x):
        spikes = checkpoint_layer(lambda s: self.neuron2(self.bn1(self.fc1(s))), self.neuron1(x),
                                  modules=[self.fc1, self.bn1, self.neuron2])
        return checkpoint_layer(lambda s: self.bn2(self.fc2(s)), spikes,
                                modules=[self.fc2, self.bn2])


class LFEBlock(nn.Module):
    """Local feature extraction block (stages 1-2) on ``[T, N, C, H, W]``.

    ``x + BN_T(pw(dw5x5(pw(neuron(x)))))`` then ``x + ConvMlp(x)``.  As in the official code the
    stochastic-depth mask of the first branch is applied before its BatchNorm.
    """

    def __init__(self, dim, mlp_ratio, num_frames, neuron_cfg, drop_path=0.0):
        super().__init__()
        self.neuron = build_neuron(neuron_cfg)
        self.mixer = SeqToANN(
            nn.Conv2d(dim, dim, 1),
            nn.Conv2d(dim, dim, 5, padding=2, groups=dim),
            nn.Conv2d(dim, dim, 1))
        self.bn = TemporalBatchNorm2d(dim, num_frames)
        self.drop_path = StepDropPath(drop_path)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), num_frames, neuron_cfg)

    def forward(self, x):
        x = x + checkpoint_layer(lambda s: self.bn(self.drop_path(self.mixer(s))),
                                 self.neuron(x), modules=[self.mixer, self.drop_path, self.bn])
        return x + self.drop_path(self.mlp(x))


class _TokenLinearBN(nn.Module):
    """Linear + BN_T on tokens ``[T, N, L, C_in] -> [T, N, L, C_out]``."""

    def __init__(self, in_features, out_features, num_frames):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.bn = TemporalBatchNorm1d(out_features, num_frames)

    def forward(self, x):
        return self.bn(self.linear(x).transpose(-2, -1)).transpose(-2, -1)


class SpikingMlp(nn.Module):
    """neuron -> Linear -> BN_T -> neuron -> Linear -> BN_T on tokens ``[T, N, L, C]``."""

    def __init__(self, dim, hidden, num_frames, neuron_cfg):
        super().__init__()
        self.neuron1 = build_neuron(neuron_cfg)
        self.fc1 = _TokenLinearBN(dim, hidden, num_frames)
        self.neuron2 = build_neuron(neuron_cfg)
        self.fc2 = _TokenLinearBN(hidden, dim, num_frames)

    def forward(self, x):
        spikes = checkpoint_layer(lambda s: self.neuron2(self.fc1(s)), self.neuron1(x),
                                  modules=[self.fc1, self.neuron2])
        return checkpoint_layer(self.fc2, spikes, modules=[self.fc2])


class SpikingLinearAttention(nn.Module):
    """Spiking multi-head self-attention over the tokens of each frame, ``[T, N, L, C]``.

    neuron -> Linear(C, 3C) -> BN_T -> separate neurons for Q, K, V (heads of ``head_dim``) ->
    :func:`mmspike.ops.dot_attention` (``Q (K^T V) * scale``, linear in the number of tokens) with
    scale ``head_dim ** -0.5`` -> neuron -> Linear -> BN_T.
    """

    def __init__(self, dim, num_heads, num_frames, neuron_cfg):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.in_neuron = build_neuron(neuron_cfg)
        self.qkv = _TokenLinearBN(dim, 3 * dim, num_frames)
        self.q_neuron = build_neuron(neuron_cfg)
        self.k_neuron = build_neuron(neuron_cfg)
        self.v_neuron = build_neuron(neuron_cfg)
        self.proj_neuron = build_neuron(neuron_cfg)
        self.proj = _TokenLinearBN(dim, dim, num_frames)

    def _qkv(self, x):  # input spikes [T, N, L, C] -> q, k, v spikes [T, N, heads, L, d]
        steps, batch, tokens, _ = x.shape
        qkv = self.qkv(x)  # [T, N, L, 3C], channels (q|k|v, head, d)
        qkv = qkv.reshape(steps, batch, tokens, 3, self.num_heads, self.head_dim)
        # unbind, not qkv[i]: the backward of three selects would zero-fill three [3, ...] grads
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).contiguous().unbind(0)  # [T, N, heads, L, d]
        return self.q_neuron(q), self.k_neuron(k), self.v_neuron(v)

    def _attend_and_fire(self, q, k, v):  # q, k, v spikes -> spikes [T, N, L, C]
        steps, batch, _, tokens, _ = q.shape
        y = dot_attention(q, k, v, self.scale)  # [T, N, heads, L, d]
        return self.proj_neuron(y.transpose(2, 3).reshape(steps, batch, tokens, -1))

    def forward(self, x):
        qkv_modules = [self.qkv, self.q_neuron, self.k_neuron, self.v_neuron]
        q, k, v = checkpoint_layer(self._qkv, self.in_neuron(x), modules=qkv_modules)
        spikes = checkpoint_layer(self._attend_and_fire, q, k, v, modules=[self.proj_neuron])
        return checkpoint_layer(self.proj, spikes, modules=[self.proj])

    def extra_repr(self):
        return f'num_heads={self.num_heads}, head_dim={self.head_dim}, scale={self.scale:.4f}'


class GSABlock(nn.Module):
    """Global self-attention block (stages 3-4): ``x + attn(x)``, ``x + mlp(x)`` on tokens."""

    def __init__(self, dim, num_heads, mlp_ratio, num_frames, neuron_cfg, drop_path=0.0):
        super().__init__()
        self.attn = SpikingLinearAttention(dim, num_heads, num_frames, neuron_cfg)
        self.drop_path = StepDropPath(drop_path)
        self.mlp = SpikingMlp(dim, int(dim * mlp_ratio), num_frames, neuron_cfg)

    def forward(self, x):  # [T, N, C, H, W]
        steps, batch, dim, height, width = x.shape
        x = x.flatten(3).transpose(2, 3)  # [T, N, L, C]
        x = x + self.drop_path(self.attn(x))
        x = x + self.drop_path(self.mlp(x))
        return x.transpose(2, 3).reshape(steps, batch, dim, height, width)


class ConvBN(nn.Module):
    """Optional neuron -> per-frame conv -> BN_T on ``[T, N, C, H, W]``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, num_frames,
                 neuron_cfg=None, groups=1):
        super().__init__()
        self.neuron = build_neuron(neuron_cfg) if neuron_cfg is not None else nn.Identity()
        self.conv = SeqToANN(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                       groups=groups))
        self.bn = TemporalBatchNorm2d(out_channels, num_frames)

    def forward(self, x):
        return checkpoint_layer(lambda s: self.bn(self.conv(s)), self.neuron(x),
                                modules=[self.conv, self.bn])


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f'{name} must be an int or (H, W), got {value}')
    return value


@MODELS.register_module()
class SVFormer(BaseSpikingBackbone):
    """SVFormer backbone: a spiking UniFormer-style video transformer.

    Yu et al., SVFormer: A Direct Training Spiking Transformer for Efficient Video Action
    Recognition, 2024 (arXiv 2406.15034).

    The ``(N, C, T, H, W)`` clip is read as ``T`` time steps of real-valued frames (direct
    encoding).  All spiking neurons are multi-step (PLIF by default; 38 in ``'base'``, plus one
    in :class:`SVFormerHead`); every BatchNorm is a per-time-step BatchNorm
    (:class:`TemporalBatchNorm2d` / ``1d``, ``C x T`` statistics and affine parameters) following
    a conv or linear layer; residual branches start with a neuron and add real-valued BN outputs.

    * stem: conv k6 s4 p1 -> BN_T (no neuron: it encodes the analog frames);
    * stages 0-1: :class:`LFEBlock` (neuron -> 1x1 -> depthwise 5x5 -> 1x1 -> BN_T, residual;
      conv MLP, residual); stages 2-3: :class:`GSABlock` (spiking linear attention
      ``Q (K^T V) / sqrt(head_dim)`` within each frame, residual; spiking MLP, residual);
    * downsampling before stages 1-3: neuron -> conv k4 s2 p1 -> BN_T;
    * local pathway from the input of stage 2: neuron -> depthwise 3x3 s2 -> 1x1 -> BN_T, to the
      width of stage 3, concatenated as ``[local, global]`` with the output of stage 3.

    Every conv and linear layer has a bias, and linear layers are initialised with a truncated
    normal (std 0.02, zero bias) as in the official code; convs keep PyTorch's default init.
    Neuron states are reset at the start of every forward.

    Args:
        arch (str | dict): ``'base'`` (the paper model) or ``'tiny'`` (CPU demos), or a dict
            with ``embed_dims`` (4 widths), ``depths`` (4 block counts), ``num_heads`` (4, 0 for
            the conv stages; head width = width / heads) and ``mlp_ratio``.
            Defaults to ``'base'``.
        num_frames (int): clip length ``T``; the per-step BatchNorms are built for exactly this
            many steps. Defaults to 16.
        img_size (int | tuple[int, int]): input frame size; the output is ``img_size / 32``
            (7x7 at 224). Defaults to 224.
        in_channels (int): input channels. Defaults to 3.
        neuron_cfg (dict): multi-step neuron config for :func:`build_neuron`. Defaults to
            :data:`~mmspike.neurons.multistep.PLIF_ATAN` (PLIF, init_tau 2, threshold 1, hard reset
            to 0, detached reset, ATan alpha 2).
        drop_path_rate (float): stochastic-depth rate, increased linearly over the blocks
            (dropped per time step as in the official code, see :class:`StepDropPath`).
            The released UCF101 run uses 0 (``run.sh`` overrides the 0.2 of its
            ``config.yaml``). Defaults to 0.
        out_indices (int | Sequence[int]): stages to return. Stage ``i`` gives
            ``[T, N, embed_dims[i], H/2^(i+2), W/2^(i+2)]``, except stage 3, which is the
            classification feature ``[T, N, 2 * embed_dims[3], H/32, W/32]`` (local pathway and
            stage 3 concatenated). Defaults to 3.
        frozen_stages (int): -1 (nothing), 0 (the stem) or i (stem and stages 0..i-1).
            Defaults to -1.
        norm_eval (bool): keep BatchNorms in eval mode while training. Defaults to False.
        with_cp (bool): the same as ``memory=dict(checkpoint='block')``. Defaults to False.
        compress_spikes (bool): the same as ``memory=dict(compress_spikes=True)``.
            Defaults to False.
        memory (dict, optional): the memory policy of training: ``checkpoint`` None /
            ``'block'`` / ``'layer'`` (the least memory) and ``compress_spikes`` (see
            :class:`~mmspike.backbones.base.BaseSpikingBackbone`). Defaults to None.
        init_cfg (dict | list, optional): mmengine init config. Defaults to a truncated normal
            (std 0.02, bias 0) for ``nn.Linear`` layers.

    Input: ``(N, C, T, H, W)`` (MMAction2's NCTHW) with ``T == num_frames`` and
    ``(H, W) == img_size``.  Output: a tuple with one ``[T, N, C, H, W]`` map per
    ``out_indices``; for ``'base'`` at 224 the default is ``([16, N, 1024, 7, 7], )``, consumed
    by the action head :class:`mmspike.heads.action.SVFormerHead`.
    """

    arch_zoo = {
        # the paper model (UCF101 84.03% top-1): 13,801,612 parameters with the 101-class head
        'base': dict(embed_dims=(128, 256, 384, 512), depths=(1, 1, 3, 1),
                     num_heads=(0, 0, 6, 8), mlp_ratio=2.0),
        # a CPU demo model
        'tiny': dict(embed_dims=(32, 64, 96, 128), depths=(1, 1, 1, 1),
                     num_heads=(0, 0, 3, 4), mlp_ratio=2.0),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 num_frames: int = 16,
                 img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 neuron_cfg: dict = PLIF_ATAN,
                 drop_path_rate: float = 0.0,
                 out_indices: Union[int, Sequence[int]] = 3,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 compress_spikes: bool = False,
                 memory: Optional[dict] = None,
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0)):
        super().__init__(4, out_indices, frozen_stages, norm_eval, with_cp, init_cfg,
                         compress_spikes=compress_spikes, memory=memory)
        arch = self.resolve_arch(arch)
        embed_dims, depths = arch['embed_dims'], arch['depths']
        num_heads = arch.get('num_heads', (0, 0) + tuple(d // 64 for d in embed_dims[2:]))
        mlp_ratio = float(arch.get('mlp_ratio', 2.0))
        if len(embed_dims) != 4 or len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f'SVFormer: arch needs 4 embed_dims, depths and num_heads, got '
                             f'{embed_dims}, {depths}, {num_heads}')
        for dim, heads in zip(embed_dims[2:], num_heads[2:]):
            if heads < 1 or dim % heads:
                raise ValueError(f'SVFormer: attention width {dim} is not divisible by '
                                 f'num_heads {heads}')
        self.arch = dict(embed_dims=embed_dims, depths=depths, num_heads=num_heads,
                         mlp_ratio=mlp_ratio)
        self.num_frames = int(num_frames)
        self.img_size = _pair(img_size, 'img_size')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.out_channels = 2 * embed_dims[3]
        self.stage_channels = embed_dims[:3] + (self.out_channels, )

        # spatial sizes along the way: the local pathway must meet the output of stage 3
        sizes = [tuple(_conv_out(s, 6, 4, 1) for s in self.img_size)]
        for _ in range(3):
            sizes.append(tuple(_conv_out(s, 4, 2, 1) for s in sizes[-1]))
        local_size = tuple(_conv_out(s, 3, 2, 1) for s in sizes[2])
        if min(sizes[-1]) < 1 or local_size != sizes[3]:
            raise ValueError(f'img_size {self.img_size} gives a stage-3 map of {sizes[3]} but a '
                             f'local-pathway map of {local_size}; use a multiple of 32')
        self.out_size = sizes[3]
        self.stage_sizes = tuple(sizes)

        steps = self.num_frames
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stem = ConvBN(in_channels, embed_dims[0], 6, 4, 1, steps)
        self.downsamples = nn.ModuleList([
            ConvBN(embed_dims[i], embed_dims[i + 1], 4, 2, 1, steps, neuron_cfg)
            for i in range(3)])
        self.stages = nn.ModuleList()
        start = 0
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            if i < 2:
                blocks = [LFEBlock(dim, mlp_ratio, steps, neuron_cfg, dpr[start + j])
                          for j in range(depth)]
            else:
                blocks = [GSABlock(dim, num_heads[i], mlp_ratio, steps, neuron_cfg,
                                   dpr[start + j]) for j in range(depth)]
            self.stages.append(nn.Sequential(*blocks))
            start += depth
        self.local_path = NeuronThenLayer(
            build_neuron(neuron_cfg),
            SeqToANN(nn.Conv2d(embed_dims[2], embed_dims[2], 3, 2, 1, groups=embed_dims[2]),
                     nn.Conv2d(embed_dims[2], embed_dims[3], 1)),
            TemporalBatchNorm2d(embed_dims[3], steps))
        self._pin_contiguous_maps()  # the layers exist now (the policy was set before them)

    def stem_and_stages(self):
        return [[self.stem], [self.stages[0]], [self.downsamples[0], self.stages[1]],
                [self.downsamples[1], self.stages[2]],
                [self.downsamples[2], self.stages[3], self.local_path]]

    def _check_input(self, x):
        check_video_input(self, x, self.in_channels)
        name = type(self).__name__
        _, _, steps, height, width = x.shape
        if steps != self.num_frames:
            raise ValueError(f'{name} was built for num_frames={self.num_frames} (its per-step '
                             f'BatchNorms), got T={steps} (shape {tuple(x.shape)})')
        if (height, width) != self.img_size:
            raise ValueError(f'{name} was built for img_size={self.img_size} (H, W), got '
                             f'{(height, width)} (shape {tuple(x.shape)})')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(N, C, T, H, W)`` -> one ``[T, N, C_i, H_i, W_i]`` map per ``out_indices``."""
        self._check_input(x)
        x = self.to_time_major(x)
        outs = {}
        x = self.run_blocks([self.stem, *self.stages[0]], x)
        outs[0] = x
        x = self.run_blocks([self.downsamples[0], *self.stages[1]], x)
        outs[1] = x
        x = self.run_blocks([self.downsamples[1]], x)
        local = self.run_blocks([self.local_path], x)
        x = self.run_blocks(self.stages[2], x)
        outs[2] = x
        x = self.run_blocks([self.downsamples[2], *self.stages[3]], x)
        outs[3] = torch.cat((local, x), dim=2)
        return tuple(outs[i] for i in self.out_indices)
