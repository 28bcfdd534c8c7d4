"""ClipDataPreprocessor: batches of video clips ``[N, C, T, H, W]`` for every task adapter."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.registry import Registry
from mmengine.structures import PixelData
from torch import nn

from ..registry import MODELS

#: metainfo keys that name a sample's source, first match used by :func:`sample_name`
SOURCE_KEYS = ('filename', 'img_paths', 'img_path', 'video', 'frame_dir')


def sample_name(sample) -> Optional[str]:
    """The file (or video) a data sample came from, from its metainfo; None if unknown."""
    metainfo = getattr(sample, 'metainfo', None) or {}
    for key in SOURCE_KEYS:
        value = metainfo.get(key, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return str(value)
    return None


def clip_preprocessor(data_preprocessor: Union[dict, nn.Module, None] = None,
                      registry: Optional[Registry] = None) -> Union[dict, nn.Module]:
    """The data preprocessor of a clip estimator: ``data_preprocessor`` as given, None standing
    for ``dict(type='ClipDataPreprocessor')`` (the codebases' own preprocessors take images, not
    clips).  With ``registry`` (the codebase's ``MODELS``, so that its scope's names resolve) a
    dict is built; without, it is left for the estimator's base class to build."""
    if data_preprocessor is None:
        data_preprocessor = dict(type='ClipDataPreprocessor')
    if registry is not None and isinstance(data_preprocessor, dict):
        data_preprocessor = registry.build(data_preprocessor)
    return data_preprocessor


def _all_finite(x: torch.Tensor) -> bool:
    # min and max propagate NaN and are +-Inf if any value is: one pass, ~30x faster on the CPU
    # than isfinite().all() (which the energy counter does not count either way)
    if x.numel() == 0:
        return True
    low, high = torch.aminmax(x)
    return bool(torch.isfinite(low) & torch.isfinite(high))


def nonfinite_report(clips, names: Optional[Sequence[Optional[str]]] = None,
                     limit: int = 5) -> Optional[str]:
    """None when every floating-point clip of ``clips`` (a ``[N, ...]`` tensor or a list of
    tensors) is finite; otherwise how many NaN and Inf values which clips hold, in words
    (the first ``limit`` clips listed, named by ``names`` where given).  Integer clips
    (uint8 frames) cannot hold either and are skipped."""
    floats = [(i, clip) for i, clip in enumerate(clips)
              if torch.is_tensor(clip) and clip.is_floating_point()]
    if not floats:
        return None
    if torch.is_tensor(clips):
        if _all_finite(clips):
            return None
    elif all(_all_finite(clip) for _, clip in floats):
        return None
    rows, nan_total, inf_total = [], 0, 0
    for i, clip in floats:
        nan, inf = int(torch.isnan(clip).sum()), int(torch.isinf(clip).sum())
        if nan or inf:
            nan_total, inf_total = nan_total + nan, inf_total + inf
            name = names[i] if names is not None and i < len(names) else None
            rows.append(f'clip {i}' + (f' ({name})' if name else '') + f': {nan} NaN, {inf} Inf')
    more = f', ... ({len(rows) - limit} more clips)' if len(rows) > limit else ''
    return (f'{nan_total} NaN and {inf_total} Inf values in {len(rows)} of {len(clips)} clips '
            f'[{"; ".join(rows[:limit])}{more}]')


@MODELS.register_module()
class ClipDataPreprocessor(BaseDataPreprocessor):
    """Batch video clips: ``inputs`` of ``[C, T, H, W]`` (uint8 or float) -> float
    ``[N, C, T, H, W]`` on the model's device, normalised per channel.

    The image preprocessors of the codebases (mmengine's ``ImgDataPreprocessor``, MMPose's
    ``PoseDataPreprocessor``, MMSeg's ``SegDataPreProcessor``) take images ``(C, H, W)``:
    they would treat a clip's time axis as channels (MMSeg's swaps "BGR" whenever
    ``inputs[0].size(0) == 3``, so with T = 3 it would silently swap frames), hence this one.
    It is registered in mmengine's root ``MODELS``, so ``type='ClipDataPreprocessor'`` resolves
    in the mmpose and mmseg scopes alike.  Frames are expected in the channel order the
    pipeline produced (RGB from ``LoadClipFrames``); nothing is swapped here.

    Padding: with ``pad_size_divisor`` > 1, clips are padded at the bottom and right to the
    next multiple (with ``pad_value`` after normalisation, ``seg_pad_value`` for segmentation
    targets ``gt_sem_seg`` of the clip's size; targets kept at the original frame size, as test
    pipelines keep them, are left alone), and every data sample gets ``pad_shape`` and
    ``padding_size`` (``[left, right, top, bottom]``, MMSeg's convention, so predictions can be
    cropped back).
    Clips of one batch may then differ in size; without padding they must agree.

    Args:
        mean (Sequence[float], optional): per-channel mean (in the inputs' range, 0-255 for
            uint8 frames). Defaults to None (no normalisation; then ``std`` must be None too).
        std (Sequence[float], optional): per-channel standard deviation. Defaults to None.
        num_channels (int): channels C of every clip. Defaults to 3.
        pad_size_divisor (int): pad H and W to multiples of it. Defaults to 1 (no padding).
        pad_value (float): value of padded input pixels (after normalisation). Defaults to 0.
        seg_pad_value (int): value of padded ``gt_sem_seg`` pixels. Defaults to 255 (ignored).
        non_blocking (bool): as mmengine's ``BaseDataPreprocessor``. Defaults to False.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 num_channels: int = 3,
                 pad_size_divisor: int = 1,
                 pad_value: float = 0.0,
                 seg_pad_value: int = 255,
                 non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        name = type(self).__name__
        if (mean is None) != (std is None):
            raise ValueError(f'{name}: give both mean and std or neither, got mean={mean}, '
                             f'std={std}')
        if isinstance(pad_size_divisor, bool) or int(pad_size_divisor) != pad_size_divisor \
                or pad_size_divisor < 1:
            raise ValueError(f'{name}: pad_size_divisor must be a positive int, got '
                             f'{pad_size_divisor!r}')
        self.num_channels = int(num_channels)
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        self.seg_pad_value = int(seg_pad_value)
        self._enable_normalize = mean is not None
        if self._enable_normalize:
            if len(mean) != self.num_channels or len(std) != self.num_channels:
                raise ValueError(f'{name}: mean and std need {self.num_channels} values (one per '
                                 f'channel), got {len(mean)} and {len(std)}')
            if any(s <= 0 for s in std):
                raise ValueError(f'{name}: std must be positive, got {list(std)}')
            shape = (self.num_channels, 1, 1, 1)
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(shape),
                                 False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(shape),
                                 False)

    def _check_clips(self, inputs) -> list:
        name = type(self).__name__
        if torch.is_tensor(inputs):
            if inputs.dim() != 5 or inputs.shape[1] != self.num_channels:
                raise ValueError(f'{name}: a batch tensor must be [N, {self.num_channels}, T, H, '
                                 f'W], got shape {tuple(inputs.shape)}')
            return list(inputs)
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise TypeError(f'{name}: inputs must be a non-empty list of [{self.num_channels}, '
                            f'T, H, W] clips or an [N, C, T, H, W] tensor, got '
                            f'{type(inputs).__name__}')
        for i, clip in enumerate(inputs):
            if not torch.is_tensor(clip) or clip.dim() != 4 or clip.shape[0] != self.num_channels:
                shape = tuple(clip.shape) if torch.is_tensor(clip) else type(clip).__name__
                raise ValueError(f'{name}: clip {i} must be [{self.num_channels}, T, H, W] (as '
                                 f'the Pack*Inputs transforms pack it), got {shape}')
            if clip.shape[1] != inputs[0].shape[1]:
                raise ValueError(f'{name}: clip {i} has {clip.shape[1]} frames, clip 0 has '
                                 f'{inputs[0].shape[1]}; clips of a batch must have the same T')
        if self.pad_size_divisor == 1:
            for i, clip in enumerate(inputs):
                if clip.shape != inputs[0].shape:
                    raise ValueError(f'{name}: clip {i} has shape {tuple(clip.shape)}, clip 0 '
                                     f'has {tuple(inputs[0].shape)}; clips of a batch must '
                                     f'agree (no padding: pad_size_divisor=1)')
        return list(inputs)

    def _padded_size(self, clips) -> tuple:
        height = max(clip.shape[-2] for clip in clips)
        width = max(clip.shape[-1] for clip in clips)
        div = self.pad_size_divisor
        return -(-height // div) * div, -(-width // div) * div

    def _check_finite(self, data: dict) -> None:
        inputs, samples = data.get('inputs'), data.get('data_samples')
        if inputs is None or not (torch.is_tensor(inputs) or isinstance(inputs, (list, tuple))):
            return
        names = [sample_name(s) for s in samples] if samples is not None else None
        report = nonfinite_report(inputs, names)
        if report is not None:
            raise ValueError(f'{type(self).__name__}: the input clips hold non-finite values: '
                             f'{report}; the data (or what produced it) must be finite, NaN/Inf '
                             f'input makes the spikes and the loss NaN')

    def forward(self, data: dict, training: bool = False) -> dict:
        # checked before cast_data: on the host, so no device synchronisation
        self._check_finite(data)
        data = self.cast_data(data)
        clips = [clip.float() for clip in self._check_clips(data['inputs'])]
        if self._enable_normalize:
            clips = [(clip - self.mean) / self.std for clip in clips]
        samples = data.get('data_samples')
        if self.pad_size_divisor > 1:
            height, width = self._padded_size(clips)
            for i, clip in enumerate(clips):
                bottom, right = height - clip.shape[-2], width - clip.shape[-1]
                clips[i] = F.pad(clip, (0, right, 0, bottom), value=self.pad_value)
                if samples is None:
                    continue
                sample = samples[i]
                sample.set_metainfo(dict(pad_shape=(height, width),
                                         padding_size=[0, right, 0, bottom]))
                gt = getattr(sample, 'gt_sem_seg', None)
                # targets at the clip's size are padded with it; targets kept at the original
                # frame size (test pipelines: the metrics compare at ori_shape) are not
                if gt is not None and (bottom or right) \
                        and tuple(gt.data.shape[-2:]) == tuple(clip.shape[-2:]):
                    sample.gt_sem_seg = PixelData(
                        data=F.pad(gt.data, (0, right, 0, bottom), value=self.seg_pad_value),
                        metainfo=gt.metainfo)
        return dict(inputs=torch.stack(clips), data_samples=samples)

    def __repr__(self):
        return (f'{type(self).__name__}(num_channels={self.num_channels}, normalize='
                f'{self._enable_normalize}, pad_size_divisor={self.pad_size_divisor})')
