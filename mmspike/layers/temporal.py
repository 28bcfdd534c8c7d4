"""Small multi-step building blocks shared by mmspike's backbones and heads (neurons are
built by :func:`mmspike.neurons.build_neuron`)."""
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..neurons.multistep import LOW_PRECISION_DTYPES
from ..ops.temporal_norm import temporal_batch_norm


def positive_pair(value, what: str, pair_name: str = '(a, b)'):
    """None, a positive int ``n`` (-> ``(n, n)``) or a pair of positive ints -> None or a tuple
    of two ints.  Otherwise a ValueError: ``'<what> must be None, a positive int or
    <pair_name>, got <value>'``."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(value)
        ok = len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                    and v > 0 for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f'{what} must be None, a positive int or {pair_name}, got {value!r}')
    return int(pair[0]), int(pair[1])


def last_feature_map(feats, owner) -> torch.Tensor:
    """The last map of a backbone's (or neck's) output tuple, the deepest ``out_indices``
    entry; a single tensor passes through.  ``owner`` names the caller in errors."""
    name = type(owner).__name__
    if isinstance(feats, (tuple, list)):
        if not feats:
            raise ValueError(f'{name} got an empty tuple of feature maps')
        feats = feats[-1]
    if not torch.is_tensor(feats):
        raise TypeError(f'{name} expects a tensor or a tuple of [T, N, C, H, W] maps, got '
                        f'{type(feats).__name__}')
    return feats


def check_video_input(owner, x, in_channels):
    """Raise a ValueError naming ``owner`` unless ``x`` is ``(N, in_channels, T, H, W)``."""
    name = type(owner).__name__
    if x.dim() != 5:
        raise ValueError(f'{name} expects (N, C, T, H, W) input, got {x.dim()}-D shape '
                         f'{tuple(x.shape)}')
    if x.shape[1] != in_channels:
        raise ValueError(f'{name} expects {in_channels} input channels, got {x.shape[1]} '
                         f'(shape {tuple(x.shape)})')


class SeqToANN(nn.Module):
    """Apply a per-step module to ``[T, B, ...]`` by merging T into the batch.

    Maps (``[T, B, C, H, W]``) on the CPU are given to the module in channels-last memory
    layout (``channels_last``): oneDNN's convolutions run several times faster on it, most of
    all the depthwise and few-channel ones of the early stages (3-4x forward + backward on the
    pose demo's 7 x 7 depthwise and 3 x 3 16-channel convolutions), and the elementwise layers
    after them (BatchNorm, neurons) keep the layout.  The results equal the contiguous ones up
    to the order of floating-point sums.

    Args:
        modules: the module, or several run in sequence.
        channels_last (bool, optional): None (default): channels-last on the CPU only (the GPU
            kernels' best layout depends on dtype and hardware); True/False: always/never.
    """

    def __init__(self, *modules, channels_last: Optional[bool] = None):
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)
        self.channels_last = channels_last

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        steps, batch = x_seq.shape[:2]
        x = x_seq.flatten(0, 1)
        if x.dim() == 4 and (self.channels_last if self.channels_last is not None
                             else x.device.type == 'cpu'):
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.module(x)
        return y.unflatten(0, (steps, batch))


class _TemporalBatchNorm(nn.Module):
    """BatchNorm "through time": separate statistics and affine parameters per time step.

    A ``[T, B, C, *rest]`` tensor is viewed as ``[B, T*C, *rest]`` (channel ``t * C + c``) and
    normalised by one BatchNorm over ``T * C`` channels, i.e. every (time step, channel) pair has
    its own mean, variance, weight and bias.  When the channels are innermost in memory
    (channels-last maps, ``[T, B, L, C]`` tokens seen as ``[T, B, C, L]``), which is how SVFormer
    runs on the CPU, the same statistics are computed in place of that view by
    :func:`mmspike.ops.temporal_norm.temporal_batch_norm`, and the output keeps the input's
    layout: the view needs two full copies forward and two backward, and the layout it leaves
    costs more copies in the next layer.  This is the parameter layout of SVFormer's
    ``BatchNorm{1,2}d_eT`` (its ``weight`` of length ``T*C`` reshapes to ``[T, C]``).  The
    BatchNorm is a child module (``self.bn``) so that ``nn.SyncBatchNorm.convert_sync_batchnorm``
    and mmengine's norm-layer weight-decay rules see an ordinary BatchNorm.

    Args:
        num_features (int): channels ``C`` per time step.
        num_steps (int): number of time steps ``T`` (fixed: the input must have exactly T steps).
        eps, momentum, affine, track_running_stats: as :class:`torch.nn.BatchNorm2d`.
        copy_free (bool): normalise channels-innermost inputs in place of the view (True) or
            always through the ``[B, T*C, ...]`` view (False; same results up to the order of
            floating-point sums). Defaults to True.
    """

    _bn_cls = None
    _rest_dims = ()  # allowed numbers of dimensions after C

    def __init__(self, num_features: int, num_steps: int, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, copy_free: bool = True):
        super().__init__()
        self.num_features = int(num_features)
        self.num_steps = int(num_steps)
        self.copy_free = bool(copy_free)
        self.bn = self._bn_cls(self.num_features * self.num_steps, eps=eps, momentum=momentum,
                               affine=affine, track_running_stats=track_running_stats)

    def _layout(self):
        return ' or '.join('[T, B, C' + ''.join(f', D{i}' for i in range(n)) + ']'
                           for n in self._rest_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() - 3 not in self._rest_dims:
            raise ValueError(f'{type(self).__name__} expects {self._layout()} input, got '
                             f'{x.dim()}-D shape {tuple(x.shape)}')
        steps, batch, channels = x.shape[:3]
        if steps != self.num_steps or channels != self.num_features:
            raise ValueError(f'{type(self).__name__} was built for T={self.num_steps} time steps '
                             f'and C={self.num_features} channels, got T={steps}, C={channels} '
                             f'(shape {tuple(x.shape)})')
        rest = x.shape[3:]
        channel_last = x.movedim(2, -1)
        if self.copy_free and type(self.bn) is self._bn_cls and channel_last.is_contiguous():
            return self._forward_channel_last(channel_last).movedim(-1, 2)
        y = self.bn(x.transpose(0, 1).reshape(batch, steps * channels, *rest))
        return y.reshape(batch, steps, channels, *rest).transpose(0, 1)

    def _forward_channel_last(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[T, B, *rest, C]`` contiguous (channels-last maps, tokens) -> same layout,
        normalised by :func:`mmspike.ops.temporal_norm.temporal_batch_norm` with ``self.bn``'s
        parameters and statistics, without the ``[B, T*C, ...]`` copies."""
        bn = self.bn
        steps, channels = self.num_steps, self.num_features
        training = bn.training or not bn.track_running_stats
        momentum = 0.0 if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                momentum = 1.0 / float(bn.num_batches_tracked)
        track = bn.training and bn.track_running_stats
        use_running = bn.running_mean is not None and (track or not training)

        def per_step(t):
            return None if t is None else t.view(steps, channels)

        in_dtype = x.dtype
        if in_dtype in LOW_PRECISION_DTYPES:  # statistics in float32, as nn.BatchNorm
            x = x.float()
        y = temporal_batch_norm(
            x.view(steps, -1, channels),
            per_step(bn.running_mean) if use_running else None,
            per_step(bn.running_var) if use_running else None,
            per_step(bn.weight), per_step(bn.bias), training, momentum, bn.eps)
        return y.view(x.shape).to(in_dtype)

    def extra_repr(self):
        extra = '' if self.copy_free else ', copy_free=False'
        return f'num_features={self.num_features}, num_steps={self.num_steps}{extra}'


class TemporalBatchNorm1d(_TemporalBatchNorm):
    """:class:`_TemporalBatchNorm` for ``[T, B, C]`` or ``[T, B, C, L]`` (tokens) inputs."""

    _bn_cls = nn.BatchNorm1d
    _rest_dims = (0, 1)


class TemporalBatchNorm2d(_TemporalBatchNorm):
    """:class:`_TemporalBatchNorm` for ``[T, B, C, H, W]`` inputs."""

    _bn_cls = nn.BatchNorm2d
    _rest_dims = (2, )
