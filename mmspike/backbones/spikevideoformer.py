"""SpikeVideoFormer (Zou et al., ICML 2025): Meta-SpikeFormer with spike-driven Hamming
attention."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.checkpoint import checkpoint_branch, checkpoint_layer
from ..layers.temporal import SeqToANN, check_video_input
from ..neurons import LIF_SIGMOID, StatefulModule, accepts_argument, build_neuron
from ..ops import (causal_dot_attention, causal_hamming_attention, dot_attention,
                   hamming_attention, softmax_attention)
from ..registry import MODELS
from .base import BaseSpikingBackbone

ATTENTION_MODES = ('joint', 'spatial', 'factorized', 'none', 'causal')
#: Attention modes in which no frame sees a later one (with BatchNorm in eval mode, the only
#: other layers that mix frames): the backbone can then run a video frame by frame.
CAUSAL_ATTENTION_MODES = ('causal', 'spatial', 'none')
SIMILARITIES = ('hamming', 'dot', 'softmax')  # 'softmax': quadratic, for benchmarks only


def _neuron(cfg, **overrides):
    """The neuron of ``cfg`` with the ``overrides`` its class takes (an integer neuron has no
    threshold to override)."""
    cfg = dict(cfg)
    cfg.update({key: value for key, value in overrides.items()
                if accepts_argument(cfg.get('type'), key)})
    return build_neuron(cfg)


class BNAndPad(nn.Module):
    """BatchNorm, then a 1-pixel border filled with what the BN makes of a zero input.

    Lets the following un-padded 3x3 convolution see the same border as a zero-padded
    convolution placed before the BN (so RepConv can be re-parameterised into one conv)."""

    def __init__(self, channels, pad=1):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.pad = pad

    def forward(self, x):
        out = self.bn(x)
        if self.pad <= 0:
            return out
        bn = self.bn
        fill = -bn.running_mean / torch.sqrt(bn.running_var + bn.eps)
        if bn.affine:
            fill = bn.bias.detach() + fill * bn.weight.detach()
        out = F.pad(out, [self.pad] * 4)
        border = torch.ones_like(out[:1, :1])
        border[..., self.pad:-self.pad, self.pad:-self.pad] = 0
        return out + border * fill.view(1, -1, 1, 1)  # the padded border is zero


class RepConv(nn.Module):
    """1x1 conv -> BN (with padding) -> depthwise 3x3 -> 1x1 conv -> BN, no biases."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1, bias=False), BNAndPad(in_channels),
            nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x):
        return self.body(x)


class DownSampling(nn.Module):
    """[neuron ->] conv (with bias) -> BN; the stem has no neuron (it sees real frames)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, neuron_cfg,
                 first=False):
        super().__init__()
        self.neuron = None if first else _neuron(neuron_cfg)
        self.conv = SeqToANN(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
                             nn.BatchNorm2d(out_channels))

    def forward(self, x):
        if self.neuron is None:  # the stem, on the frames
            return self.conv(x)
        return checkpoint_layer(self.conv, self.neuron(x), modules=[self.conv])


class SepConv(nn.Module):
    """neuron -> pw 1x1 -> BN -> neuron -> dw 7x7 -> pw 1x1 -> BN (expansion 2, MobileNetV2)."""

    def __init__(self, dim, neuron_cfg, expansion=2, kernel_size=7):
        super().__init__()
        hidden = int(dim * expansion)
        self.neuron1 = _neuron(neuron_cfg)
        self.pw1 = SeqToANN(nn.Conv2d(dim, hidden, 1, bias=False), nn.BatchNorm2d(hidden))
        self.neuron2 = _neuron(neuron_cfg)
        self.dw_pw2 = SeqToANN(
            nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden,
                      bias=False),
            nn.Conv2d(hidden, dim, 1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x):
        return checkpoint_branch(self.pw1, self.neuron2, self.dw_pw2, self.neuron1(x))


class ConvBlock(nn.Module):
    """``x += SepConv(x)``; ``x += BN(conv3x3(neuron(BN(conv3x3(neuron(x))))))`` (hidden 4x)."""

    def __init__(self, dim, neuron_cfg, mlp_ratio=4):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.sepconv = SepConv(dim, neuron_cfg)
        self.neuron1 = _neuron(neuron_cfg)
        self.conv1 = SeqToANN(nn.Conv2d(dim, hidden, 3, padding=1, bias=False),
                              nn.BatchNorm2d(hidden))
        self.neuron2 = _neuron(neuron_cfg)
        self.conv2 = SeqToANN(nn.Conv2d(hidden, dim, 3, padding=1, bias=False),
                              nn.BatchNorm2d(dim))

    def forward(self, x):
        x = x + self.sepconv(x)
        return x + checkpoint_branch(self.conv1, self.neuron2, self.conv2, self.neuron1(x))


class CausalAttentionState(StatefulModule):
    """The running key-value sum ``S = sum_s (2K_s-1)^T V_s`` of causal attention, carried
    between calls like a neuron's membrane (``[B, heads, d, d]``; None after :meth:`reset`)."""

    def __init__(self):
        super().__init__()
        self.kv = None

    def reset(self):
        self.kv = None

    def get_state(self):
        return self.kv

    def set_state(self, state):
        self.kv = state


class SpikeDrivenAttention(nn.Module):
    """Spike-driven self-attention over ``[T, B, C, H, W]`` tokens.

    neuron -> q, k, v (each RepConv -> BN -> neuron) -> attention -> [BN] -> neuron ->
    projection (RepConv -> BN).  ``sim='hamming'``: ``(2Q-1)((2K-1)^T V) * scale`` followed by
    BN and a neuron with threshold 1 (``scale='code'``: 1 / (2 C) with C the stage width, as in
    the released code; ``scale='paper'``: 1 / (2 d) with d the head width, no BN).  ``sim='dot'``:
    ``Q (K^T V) / 8`` and a neuron with threshold 0.5 (Meta-SpikeFormer).  ``sim='softmax'``:
    ``softmax(Q K^T / sqrt(d)) V``, quadratic and not spike-driven, only as a latency contrast.

    ``attention``: ``'joint'`` attends over all ``T*H*W`` tokens of a clip, ``'spatial'`` over the
    ``H*W`` tokens of each frame, ``'factorized'`` spatially within each frame and then
    temporally over the ``T`` tokens of each position (values of the second step = output of the
    first), ``'none'`` passes the value spikes through (no token mixing), ``'causal'`` is joint
    attention in which the tokens of frame ``t`` attend to the tokens of frames ``s <= t`` only
    (:func:`~mmspike.ops.causal_hamming_attention`; the key-value sum is carried between calls
    in :class:`CausalAttentionState` and reset with the neurons).  All use the linear order, so
    joint and causal attention cost O(T H W d^2).

    Departure: causal attention is not in the paper (its SDHA is joint over the whole clip); it
    makes frame-by-frame (online) inference possible.  As in joint attention with
    ``scale='code'`` the sum grows with the number of frames attended to, so a causal model
    sees sums over up to the ``T`` frames it was trained on; over longer streams the sum keeps
    growing (no decay is applied).
    """

    def __init__(self, dim, num_heads, neuron_cfg, attention='joint', sim='hamming',
                 scale='code'):
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f'unknown attention {attention!r}; expected one of '
                             f'{ATTENTION_MODES}')
        if sim not in SIMILARITIES:
            raise ValueError(f'unknown sim {sim!r}; expected one of {SIMILARITIES}')
        if attention == 'causal' and sim == 'softmax':
            raise ValueError("causal attention needs a linear similarity ('hamming' or 'dot'), "
                             "got sim='softmax'")
        if scale not in ('code', 'paper'):
            raise ValueError(f"scale must be 'code' or 'paper', got {scale!r}")
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by {num_heads} heads')
        self.dim, self.num_heads = dim, num_heads
        self.attention, self.sim, self.scale_mode = attention, sim, scale
        head_dim = dim // num_heads
        if sim == 'dot':
            self.scale = 0.125
        elif sim == 'softmax':
            self.scale = head_dim ** -0.5
        else:
            self.scale = 1.0 / (2 * dim) if scale == 'code' else 1.0 / (2 * head_dim)
        self.head_neuron = _neuron(neuron_cfg)
        self.q = SeqToANN(RepConv(dim, dim), nn.BatchNorm2d(dim))
        self.k = SeqToANN(RepConv(dim, dim), nn.BatchNorm2d(dim))
        self.v = SeqToANN(RepConv(dim, dim), nn.BatchNorm2d(dim))
        self.q_neuron = _neuron(neuron_cfg)
        self.k_neuron = _neuron(neuron_cfg)
        self.v_neuron = _neuron(neuron_cfg)
        use_bn = sim == 'hamming' and scale == 'code'
        self.attn_bn = SeqToANN(nn.BatchNorm2d(dim)) if use_bn else None
        self.attn_neuron = _neuron(neuron_cfg, v_threshold=0.5 if sim != 'hamming' else 1.0)
        self.proj = SeqToANN(RepConv(dim, dim), nn.BatchNorm2d(dim))
        self.causal_state = CausalAttentionState() if attention == 'causal' else None

    def _heads(self, x):  # [T, B, C, H, W] -> [T, B, heads, H*W, d]
        steps, batch, channels = x.shape[:3]
        return x.flatten(3).transpose(-1, -2).reshape(
            steps, batch, -1, self.num_heads, channels // self.num_heads).transpose(2, 3)

    def _attend(self, q, k, v):
        op = {'hamming': hamming_attention, 'dot': dot_attention,
              'softmax': softmax_attention}[self.sim]
        return op(q, k, v, self.scale)

    def mix(self, q, k, v):
        """Token mixing of ``[T, B, heads, N, d]`` spikes according to ``self.attention``."""
        steps, batch, heads, tokens, d = q.shape
        if self.attention == 'none':
            return v
        if self.attention == 'spatial':
            return self._attend(q, k, v)
        if self.attention == 'causal':  # [T, B, heads, N, d], time first
            op = causal_hamming_attention if self.sim == 'hamming' else causal_dot_attention
            out, self.causal_state.kv = op(q, k, v, self.scale, self.causal_state.kv)
            return out
        if self.attention == 'joint':
            def joint(x):  # -> [B, heads, T*N, d]
                return x.permute(1, 2, 0, 3, 4).reshape(batch, heads, steps * tokens, d)
            out = self._attend(joint(q), joint(k), joint(v))
            return out.reshape(batch, heads, steps, tokens, d).permute(2, 0, 1, 3, 4)
        spatial = self._attend(q, k, v)

        def temporal(x):  # -> [B, heads, N, T, d]
            return x.permute(1, 2, 3, 0, 4)
        out = self._attend(temporal(q), temporal(k), temporal(spatial))
        return out.permute(3, 0, 1, 2, 4)

    def _qkv(self, x):  # input spikes -> q, k, v spikes [T, B, heads, N, d]
        return (self._heads(self.q_neuron(self.q(x))), self._heads(self.k_neuron(self.k(x))),
                self._heads(self.v_neuron(self.v(x))))

    def _attend_and_fire(self, q, k, v, size):  # q, k, v spikes -> spikes [T, B, C, H, W]
        steps, batch, _, tokens, _ = q.shape
        out = self.mix(q, k, v)  # [T, B, heads, N, d]
        out = out.transpose(2, 3).reshape(steps, batch, tokens, self.dim)
        out = out.transpose(-1, -2).reshape(steps, batch, self.dim, *size)
        if self.attn_bn is not None:
            out = self.attn_bn(out)
        return self.attn_neuron(out)

    def forward(self, x):
        size = x.shape[-2:]
        qkv = [self.q, self.k, self.v, self.q_neuron, self.k_neuron, self.v_neuron]
        q, k, v = checkpoint_layer(self._qkv, self.head_neuron(x), modules=qkv)
        attend = [self.attn_bn, self.attn_neuron, self.causal_state]
        spikes = checkpoint_layer(lambda *qkv: self._attend_and_fire(*qkv, size), q, k, v,
                                  modules=[m for m in attend if m is not None])
        return checkpoint_layer(self.proj, spikes, modules=[self.proj])


class SpikingMLP(nn.Module):
    """neuron -> 1x1 conv -> BN -> neuron -> 1x1 conv -> BN (ratio 4)."""

    def __init__(self, dim, neuron_cfg, mlp_ratio=4):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.neuron1 = _neuron(neuron_cfg)
        self.fc1 = SeqToANN(nn.Conv2d(dim, hidden, 1), nn.BatchNorm2d(hidden))
        self.neuron2 = _neuron(neuron_cfg)
        self.fc2 = SeqToANN(nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim))

    def forward(self, x):
        return checkpoint_branch(self.fc1, self.neuron2, self.fc2, self.neuron1(x))


class TransformerBlock(nn.Module):
    """``x += Attn(x)``; ``x += MLP(x)``."""

    def __init__(self, dim, num_heads, neuron_cfg, attention, sim, scale, mlp_ratio=4):
        super().__init__()
        self.attn = SpikeDrivenAttention(dim, num_heads, neuron_cfg, attention, sim, scale)
        self.mlp = SpikingMLP(dim, neuron_cfg, mlp_ratio)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


@MODELS.register_module()
class SpikeVideoFormer(BaseSpikingBackbone):
    """SpikeVideoFormer backbone: Meta-SpikeFormer with spike-driven Hamming attention (SDHA).

    Zou et al., Spiking Neural Networks for Video: SpikeVideoFormer, ICML 2025 (builds on
    Yao et al., Spike-driven Transformer V2 / Meta-SpikeFormer, ICLR 2024).

    The ``(N, C, T, H, W)`` clip is read as ``T`` time steps of real frames (direct encoding).
    Layout (no positional embedding, no class token), stage widths ``C0..C3``:

    * stem: conv 7x7 s2 + BN to ``C0/2`` (no neuron), one conv block;
    * stage 0: downsample (neuron -> conv 3x3 s2 -> BN) to ``C0``, ``depths[0]`` conv blocks
      (stride 4);
    * stage 1: downsample s2 to ``C1``, ``depths[1]`` conv blocks (stride 8);
    * stage 2: downsample s2 to ``C2``, ``depths[2]`` transformer blocks (stride 16);
    * stage 3: downsample **s1** to ``C3``, ``depths[3]`` transformer blocks (stride 16).

    Conv block: ``x += SepConv(x)``, ``x += BN(conv3x3(neuron(BN(conv3x3(neuron(x))))))``.
    Transformer block: ``x += SpikeDrivenAttention(x)``, ``x += MLP(x)``.  Neurons: multi-step
    LIF (:data:`~mmspike.neurons.multistep.LIF_SIGMOID`: tau 2, decay_input, threshold 1, hard
    reset 0, detached reset, sigmoid surrogate alpha 4) or, with
    ``neuron_cfg=dict(type='ILIF', levels=D)``, integer LIF.  Neuron states are reset at the
    start of every forward.

    Args:
        arch (str | dict): 'tiny' | 'small' | 'medium' | 'large' | 'huge', or a dict with
            ``embed_dims`` (4 widths), ``depths`` (4 block counts), ``num_heads`` (4; the
            transformer stages' entries are used) and ``mlp_ratio``. Defaults to 'small'.
        attention (str): 'joint' | 'spatial' | 'factorized' | 'none' | 'causal' (see
            :class:`SpikeDrivenAttention`; 'causal', 'spatial' and 'none' make the backbone
            :attr:`causal`, so it can run frame by frame in :meth:`streaming`).
            Defaults to 'joint'.
        sim (str): 'hamming' | 'dot' | 'softmax' (quadratic, latency contrast only).
            Defaults to 'hamming'.
        scale (str): SDHA scale, 'code' (1/(2C) + BN) or 'paper' (1/(2d)). Defaults to 'code'.
        in_channels (int): input channels. Defaults to 3.
        num_frames (int, optional): if given, inputs with another T raise an error.
            Defaults to None.
        neuron_cfg (dict): neuron config for :func:`mmspike.neurons.build_neuron`.
            Defaults to :data:`~mmspike.neurons.multistep.LIF_SIGMOID`.
        out_indices (int | Sequence[int]): stages (0-3) to return; output strides 4, 8, 16,
            16. Defaults to 3.
        frozen_stages (int): -1 (nothing), 0 (the stem) or i (stem and stages 0..i-1).
            Defaults to -1.
        norm_eval (bool): keep BatchNorms in eval mode while training. Defaults to False.
        with_cp (bool): gradient checkpointing per block, the same as
            ``memory=dict(checkpoint='block')``. Defaults to False.
        compress_spikes (bool): the same as ``memory=dict(compress_spikes=True)``.
            Defaults to False.
        memory (dict, optional): the memory policy of training, lossless:
            ``checkpoint`` None / ``'block'`` / ``'layer'`` (the least memory: every layer
            runs again in backward from its spike inputs, kept in 1 bit per spike) and
            ``compress_spikes`` (see :class:`~mmspike.backbones.base.BaseSpikingBackbone`).
            Defaults to None (no checkpointing, no compression).
        zero_init_residual (bool): in :meth:`init_weights`, set the weight of the last BN of
            every residual branch (SepConv, conv MLP, attention projection, MLP) to zero, so
            each block starts as the identity.  Not done by Meta-SpikeFormer; meant for
            training from scratch (random-init joint attention otherwise stalls small models
            at chance, docs/action.md "SpikeVideoFormer demo"), skipped when ``init_cfg``
            loads a checkpoint.
            Defaults to False.
        init_cfg (dict | list, optional): mmengine init config; a ``Pretrained`` init loads a
            state dict in mmspike's layout (convert Meta-SpikeFormer checkpoints with
            ``tools/convert_metaspikformer.py``). Defaults to None.

    Output: a tuple with one ``[T, N, C_i, H/s_i, W/s_i]`` map per ``out_indices``.
    """

    # embed_dims of stages 0-3 (the stem and its conv block use half of embed_dims[0]);
    # parameter counts with a 1000-class linear head.
    arch_zoo = {
        'tiny': dict(embed_dims=(16, 32, 64, 96), depths=(1, 2, 1, 1), num_heads=(0, 0, 4, 4),
                     mlp_ratio=4),  # CPU demos and tests
        'small': dict(embed_dims=(64, 128, 256, 360), depths=(1, 2, 6, 2),
                      num_heads=(0, 0, 8, 8), mlp_ratio=4),  # 15.1M
        'medium': dict(embed_dims=(96, 192, 384, 480), depths=(1, 2, 6, 2),
                       num_heads=(0, 0, 8, 8), mlp_ratio=4),  # ~31.3M
        'large': dict(embed_dims=(128, 256, 512, 640), depths=(1, 2, 6, 2),
                      num_heads=(0, 0, 8, 8), mlp_ratio=4),  # 55.4M
        'huge': dict(embed_dims=(192, 384, 768, 960), depths=(1, 2, 6, 2),
                     num_heads=(0, 0, 8, 8), mlp_ratio=4),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 attention: str = 'joint',
                 sim: str = 'hamming',
                 scale: str = 'code',
                 in_channels: int = 3,
                 num_frames: int = None,
                 neuron_cfg: dict = LIF_SIGMOID,
                 out_indices: Union[int, Sequence[int]] = 3,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 compress_spikes: bool = False,
                 memory: Optional[dict] = None,
                 zero_init_residual: bool = False,
                 init_cfg=None):
        super().__init__(4, out_indices, frozen_stages, norm_eval, with_cp, init_cfg,
                         compress_spikes=compress_spikes, memory=memory)
        self.zero_init_residual = zero_init_residual
        arch = self.resolve_arch(arch)
        widths, depths = arch['embed_dims'], arch['depths']
        num_heads = arch.get('num_heads', (0, 0, 8, 8))
        mlp_ratio = arch.get('mlp_ratio', 4)
        if len(widths) != 4 or len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f'SpikeVideoFormer: arch needs 4 embed_dims, depths and num_heads, '
                             f'got {widths}, {depths}, {num_heads}')
        self.arch = dict(embed_dims=widths, depths=depths, num_heads=num_heads,
                         mlp_ratio=mlp_ratio)
        self.embed_dims, self.depths, self.num_heads = widths, depths, num_heads
        self.stage_channels = widths
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.attention = attention
        half = widths[0] // 2
        self.stem = DownSampling(in_channels, half, 7, 2, 3, neuron_cfg, first=True)
        self.stem_block = ConvBlock(half, neuron_cfg, mlp_ratio)
        self.down1 = DownSampling(half, widths[0], 3, 2, 1, neuron_cfg)
        self.stage1 = nn.Sequential(*[ConvBlock(widths[0], neuron_cfg, mlp_ratio)
                                      for _ in range(depths[0])])
        self.down2 = DownSampling(widths[0], widths[1], 3, 2, 1, neuron_cfg)
        self.stage2 = nn.Sequential(*[ConvBlock(widths[1], neuron_cfg, mlp_ratio)
                                      for _ in range(depths[1])])
        self.down3 = DownSampling(widths[1], widths[2], 3, 2, 1, neuron_cfg)
        self.stage3 = nn.Sequential(*[
            TransformerBlock(widths[2], num_heads[2], neuron_cfg, attention, sim, scale,
                             mlp_ratio) for _ in range(depths[2])])
        self.down4 = DownSampling(widths[2], widths[3], 3, 1, 1, neuron_cfg)
        self.stage4 = nn.Sequential(*[
            TransformerBlock(widths[3], num_heads[3], neuron_cfg, attention, sim, scale,
                             mlp_ratio) for _ in range(depths[3])])
        self._pin_contiguous_maps()  # the layers exist now (the policy was set before them)

    def stem_and_stages(self):
        return [[self.stem, self.stem_block], [self.down1, self.stage1],
                [self.down2, self.stage2], [self.down3, self.stage3], [self.down4, self.stage4]]

    def residual_branch_norms(self):
        """The last BatchNorm of every residual branch, in network order."""
        norms = []
        for module in self.modules():
            if isinstance(module, SepConv):
                norms.append(module.dw_pw2.module[-1])
            elif isinstance(module, ConvBlock):
                norms.append(module.conv2.module[-1])
            elif isinstance(module, SpikeDrivenAttention):
                norms.append(module.proj.module[-1])
            elif isinstance(module, SpikingMLP):
                norms.append(module.fc2.module[-1])
        return norms

    def init_weights(self):
        super().init_weights()
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = any(isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                         for cfg in init_cfgs)
        if self.zero_init_residual and not pretrained:
            for norm in self.residual_branch_norms():
                nn.init.zeros_(norm.weight)

    @property
    def causal(self) -> bool:
        """True when no output of frame ``t`` depends on a later frame (in eval mode): with
        ``attention`` in :data:`CAUSAL_ATTENTION_MODES`."""
        return self.attention in CAUSAL_ATTENTION_MODES

    def _check_input(self, x):
        check_video_input(self, x, self.in_channels)
        name = type(self).__name__
        if (self.num_frames is not None and x.shape[2] != self.num_frames
                and not self.is_streaming):
            raise ValueError(f'{name} was built for T={self.num_frames} frames, got '
                             f'T={x.shape[2]} (shape {tuple(x.shape)})')
        if x.shape[3] % 16 or x.shape[4] % 16:
            raise ValueError(f'{name} needs H and W divisible by 16 (output stride), got '
                             f'{tuple(x.shape[3:])}')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(N, C, T, H, W)`` -> one ``[T, N, C_i, H_i, W_i]`` map per ``out_indices``."""
        self._check_input(x)
        x = self.to_time_major(x)
        x = self.run_blocks([self.stem, self.stem_block], x)
        outs = {}
        for index, (down, stage) in enumerate(((self.down1, self.stage1),
                                               (self.down2, self.stage2),
                                               (self.down3, self.stage3),
                                               (self.down4, self.stage4))):
            x = self.run_blocks([down, *stage], x)
            outs[index] = x
            if index >= max(self.out_indices):
                break
        return tuple(outs[i] for i in self.out_indices)


# Meta-SpikeFormer (Spike-Driven Transformer V2, classification/models.py) -> mmspike names.
_STAGE_PREFIXES = (
    ('downsample1_1.', 'stem.'), ('ConvBlock1_1.0.', 'stem_block.'),
    ('downsample1_2.', 'down1.'), ('ConvBlock1_2.0.', 'stage1.0.'),
    ('downsample2.', 'down2.'), ('ConvBlock2_1.0.', 'stage2.0.'),
    ('ConvBlock2_2.0.', 'stage2.1.'), ('downsample3.', 'down3.'), ('block3.', 'stage3.'),
    ('downsample4.', 'down4.'), ('block4.', 'stage4.'),
)
_LAYER_NAMES = (
    ('encode_conv.', 'conv.module.0.'), ('encode_bn.', 'conv.module.1.'),
    ('Conv.pwconv1.', 'sepconv.pw1.module.0.'), ('Conv.bn1.', 'sepconv.pw1.module.1.'),
    ('Conv.dwconv.', 'sepconv.dw_pw2.module.0.'), ('Conv.pwconv2.', 'sepconv.dw_pw2.module.1.'),
    ('Conv.bn2.', 'sepconv.dw_pw2.module.2.'),
    ('conv1.', 'conv1.module.0.'), ('bn1.', 'conv1.module.1.'),
    ('conv2.', 'conv2.module.0.'), ('bn2.', 'conv2.module.1.'),
    ('mlp.fc1_conv.', 'mlp.fc1.module.0.'), ('mlp.fc1_bn.', 'mlp.fc1.module.1.'),
    ('mlp.fc2_conv.', 'mlp.fc2.module.0.'), ('mlp.fc2_bn.', 'mlp.fc2.module.1.'),
)
_REPCONV_PARTS = (('body.0.', 'body.0.'), ('body.1.', 'body.1.'), ('body.2.0.', 'body.2.'),
                  ('body.2.1.', 'body.3.'), ('body.2.2.', 'body.4.'))


def convert_metaspikformer_state_dict(state_dict: dict, keep_head: bool = False):
    """Rename a Meta-SpikeFormer (SDT-V2) ImageNet state dict to :class:`SpikeVideoFormer` keys.

    The 2D weights are used as they are: every frame (time step) goes through the same 2D
    layers, so they are shared over T.  1x1 ``Conv1d`` MLP weights become 1x1 ``Conv2d``.
    Returns ``(converted, skipped)``; ``skipped`` lists the source keys that have no
    counterpart (the 1000-class head unless ``keep_head``, which then maps it to ``head.*``).
    """
    converted, skipped = {}, []
    for original, value in state_dict.items():
        key = original[len('module.'):] if original.startswith('module.') else original
        if key.startswith(('head.', 'head_kd.')):
            if keep_head and key.startswith('head.'):
                converted[key] = value
            else:
                skipped.append(original)
            continue
        new = _rename(key)
        if new is None:
            skipped.append(original)
            continue
        if value.dim() == 3 and '.mlp.fc' in new:  # Conv1d k=1 -> Conv2d 1x1
            value = value.unsqueeze(-1)
        converted[new] = value
    return converted, skipped


def _rename(key):
    for old, new in _STAGE_PREFIXES:
        if key.startswith(old):
            rest, prefix = key[len(old):], new
            break
    else:
        return None
    if old.startswith('block'):  # block3.<i>.* -> stage3.<i>.*
        index, _, rest = rest.partition('.')
        prefix = f'{prefix}{index}.'
    for part in ('q', 'k', 'v', 'proj'):
        source = f'attn.{part}_conv.'
        if rest.startswith(source):
            rest = rest[len(source):]
            target = f'attn.{part}.module.'
            if rest.startswith('1.'):  # the BatchNorm after the RepConv
                return prefix + target + rest
            for old, new in _REPCONV_PARTS:
                if rest.startswith('0.' + old):
                    return prefix + target + '0.' + new + rest[len('0.' + old):]
            return None
    for old, new in _LAYER_NAMES:
        if rest.startswith(old):
            return prefix + new + rest[len(old):]
    return None
