"""VideoEncoderDecoder: semantic segmentation of every frame of a video clip (MMSeg segmentor)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

# the data preprocessor (core, root registry) and the head must be registered whenever the
# segmentor is
from ...heads.seg import SpikeSegformerHead  # noqa: F401
from ...data_preprocessors.clip_data_preprocessor import clip_preprocessor
from ...neurons.stateful import reset_neurons

TEST_CFG_KEYS = ('mode', 'clip_len', 'clip_stride')


@MODELS.register_module()
class VideoEncoderDecoder(EncoderDecoder):
    """Per-frame semantic segmentation of video clips: spiking video backbone -> (neck) ->
    decode head, on MMSeg's ``EncoderDecoder``.

    ``inputs`` are clips ``[N, C, T, H, W]`` (from :class:`ClipDataPreprocessor`); each data
    sample is one clip, with ``gt_sem_seg`` ``[T, H, W]`` (one label map per frame; frames
    without annotation are filled with the ignore index).  MMSeg's ``EncoderDecoder`` and its
    heads work on images, so the clip is unfolded into frames where they meet: the decode head
    returns ``[N * T, K, h, w]`` (clip-major) and is given one data sample per frame, so its
    ``loss_by_feat`` (resizing, ignore index, ``loss_decode``, accuracy) runs unchanged.
    Predictions are packed back into one sample per clip: ``pred_sem_seg`` ``[T, H, W]`` at the
    original frame size, the layout :class:`mmspike.evaluation.seg.VideoIoUMetric` (and
    MMSeg's ``IoUMetric``, which flattens) reads.  Per-frame ``seg_logits`` are not kept
    (``PixelData`` holds at most 3-D data, and ``[T, K, H, W]`` of a long video would not fit
    in memory).

    Inference (``test_cfg``): ``mode='whole'`` (whole frames; MMSeg's spatial ``'slide'`` is
    not supported for clips).  Along time, a clip longer than ``clip_len`` frames is covered by
    windows of ``clip_len`` frames every ``clip_stride`` frames (the last window ends at the last
    frame); a frame's logits are the mean over the windows that contain it, and every window
    starts from reset neurons.  ``clip_len`` defaults to the backbone's ``num_frames`` (the T
    it was built for) or else the clip's length; ``clip_stride`` defaults to ``clip_len``.

    Args:
        backbone (dict): a video backbone returning ``[T, N, C, H, W]`` maps
            (SpikeVideoFormer with ``out_indices=(0, 1, 2, 3)``: strides 4/8/16/16).
        decode_head (dict): e.g. ``dict(type='SpikeSegformerHead', ...)``; it must return
            ``[N * T, K, h, w]`` logits.
        neck, auxiliary_head, train_cfg, pretrained, init_cfg: as ``EncoderDecoder``.
        test_cfg (dict, optional): keys ``mode``, ``clip_len``, ``clip_stride`` (above).
            Defaults to ``dict(mode='whole')``.
        data_preprocessor (dict, optional): defaults to ``dict(type='ClipDataPreprocessor')``.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        test_cfg = dict(mode='whole') if test_cfg is None else dict(test_cfg)
        self._check_test_cfg(test_cfg)
        super().__init__(backbone=backbone, decode_head=decode_head, neck=neck,
                         auxiliary_head=auxiliary_head, train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=clip_preprocessor(data_preprocessor),
                         pretrained=pretrained, init_cfg=init_cfg)

    @staticmethod
    def _check_test_cfg(test_cfg: dict) -> None:
        unknown = sorted(set(test_cfg) - set(TEST_CFG_KEYS))
        if unknown:
            raise ValueError(f'VideoEncoderDecoder: unknown test_cfg keys {unknown}; expected '
                             f'some of {list(TEST_CFG_KEYS)}')
        if test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError(f"VideoEncoderDecoder supports test_cfg mode='whole' only (sliding "
                             f"windows run along time: clip_len / clip_stride), got "
                             f"mode={test_cfg.get('mode')!r}")
        for key in ('clip_len', 'clip_stride'):
            value = test_cfg.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f'VideoEncoderDecoder: test_cfg {key} must be a positive int '
                                 f'or None, got {value!r}')

    # ------------------------------------------------------------------ features and frames
    def _check_inputs(self, inputs: Tensor) -> None:
        if not torch.is_tensor(inputs) or inputs.dim() != 5:
            shape = tuple(inputs.shape) if torch.is_tensor(inputs) else type(inputs).__name__
            raise ValueError(f'{type(self).__name__} expects clips (N, C, T, H, W) (from '
                             f'ClipDataPreprocessor), got {shape}')

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """``(N, C, T, H, W)`` -> the backbone's (or neck's) ``[T, N, C_i, H_i, W_i]`` maps."""
        self._check_inputs(inputs)
        feats = self.backbone(inputs)
        if self.with_neck:
            feats = self.neck(feats)
        return feats

    def frame_samples(self, data_samples: Sequence[SegDataSample],
                      steps: int) -> List[SegDataSample]:
        """One :class:`SegDataSample` per frame (clip-major), with the clip's metainfo plus
        ``frame_index`` (and ``img_path`` from ``img_paths``) and the frame's ``gt_sem_seg``
        ``[1, H, W]`` when the clip has ``[T, H, W]``."""
        frames = []
        for index, sample in enumerate(data_samples):
            meta = dict(sample.metainfo)
            gt = sample.gt_sem_seg.data if 'gt_sem_seg' in sample else None
            if gt is not None and (gt.dim() != 3 or gt.shape[0] != steps):
                raise ValueError(f'{type(self).__name__}: clip {index} has gt_sem_seg of shape '
                                 f'{tuple(gt.shape)}, expected [T={steps}, H, W] (one label map '
                                 f'per frame, as PackClipSegInputs packs it)')
            paths = meta.get('img_paths')
            for t in range(steps):
                frame = SegDataSample(metainfo=dict(meta, frame_index=t))
                if paths is not None and len(paths) == steps:
                    frame.set_metainfo(dict(img_path=paths[t]))
                if gt is not None:
                    frame.gt_sem_seg = PixelData(data=gt[t:t + 1])
                frames.append(frame)
        return frames

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: Sequence[SegDataSample]) -> dict:
        self._check_inputs(inputs)
        reset_neurons(self)  # every batch of clips starts from rest, hook or not
        return super().loss(inputs, self.frame_samples(data_samples, inputs.shape[2]))

    # ------------------------------------------------------------------ inference
    def _window(self, steps: int) -> tuple:
        clip_len = self.test_cfg.get('clip_len') or getattr(self.backbone, 'num_frames', None)
        clip_len = clip_len or steps
        if steps < clip_len:
            raise ValueError(f'{type(self).__name__}: a clip of {steps} frames is shorter than '
                             f'the inference window of {clip_len} frames (test_cfg clip_len or '
                             f"the backbone's num_frames)")
        stride = self.test_cfg.get('clip_stride') or clip_len
        starts = list(range(0, steps - clip_len + 1, stride))
        if starts[-1] != steps - clip_len:
            starts.append(steps - clip_len)
        return clip_len, starts

    def clip_logits(self, inputs: Tensor) -> Tensor:
        """Decode-head logits of every frame, ``[N, T, K, h, w]`` (before resizing), from
        windows of ``clip_len`` frames along time (see the class docstring)."""
        self._check_inputs(inputs)
        batch, steps = inputs.shape[0], inputs.shape[2]
        clip_len, starts = self._window(steps)
        total = counts = None
        for start in starts:
            reset_neurons(self)
            window = self.decode_head.forward(
                self.extract_feat(inputs[:, :, start:start + clip_len]))
            window = window.unflatten(0, (batch, clip_len))
            if total is None:
                total = window.new_zeros((batch, steps) + window.shape[2:])
                counts = window.new_zeros((1, steps, 1, 1, 1))
            total[:, start:start + clip_len] += window
            counts[:, start:start + clip_len] += 1
        reset_neurons(self)
        return total / counts

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Clips and per-clip metas -> per-frame logits ``[N * T, K, H, W]`` resized to the
        (padded) input size, as ``EncoderDecoder.encode_decode`` does for images."""
        logits = self.clip_logits(inputs).flatten(0, 1)
        return F.interpolate(logits, size=inputs.shape[3:], mode='bilinear',
                             align_corners=self.align_corners)

    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[SegDataSample]] = None) -> List[SegDataSample]:
        """Clips -> one :class:`SegDataSample` per clip with ``pred_sem_seg`` ``[T, H, W]`` at
        each clip's ``ori_shape`` (padding removed, flips undone, as MMSeg does per image)."""
        self._check_inputs(inputs)
        batch, steps = inputs.shape[0], inputs.shape[2]
        size = tuple(inputs.shape[3:])
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(
                ori_shape=size, img_shape=size, pad_shape=size, padding_size=[0, 0, 0, 0]))
                for _ in range(batch)]
        if len(data_samples) != batch:
            raise ValueError(f'{type(self).__name__}: {len(data_samples)} data samples for '
                             f'{batch} clips')
        logits = self.clip_logits(inputs)                       # [N, T, K, h, w]
        for index, sample in enumerate(data_samples):
            frames = self.frame_samples([sample], steps)
            preds = []
            for t, frame in enumerate(frames):
                frame_logits = F.interpolate(logits[index, t:t + 1], size=size, mode='bilinear',
                                             align_corners=self.align_corners)
                frame = self.postprocess_result(frame_logits, [frame])[0]
                preds.append(frame.pred_sem_seg.data)
            sample.pred_sem_seg = PixelData(data=torch.cat(preds))
        return list(data_samples)

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Raw decode-head logits ``[N * T, K, h, w]`` of every frame (tensor mode), from the
        same temporal windows as :meth:`predict` (one window when T is the backbone's T)."""
        return self.clip_logits(inputs).flatten(0, 1)
