"""VideoPoseLifter: 3D pose of every frame of a video clip, from pixels (MMPose estimator)."""
from __future__ import annotations

import contextlib
from typing import List, Optional, Union

import torch
from mmpose.models.pose_estimators import PoseLifter
from mmpose.registry import MODELS
from torch import Tensor, nn

# the data preprocessor (core, root registry) and the head must be registered whenever the
# estimator is
from ...data_preprocessors.clip_data_preprocessor import (  # noqa: F401
    ClipDataPreprocessor, clip_preprocessor)
from ...heads.pose import SpikeTemporalRegressionHead  # noqa: F401
from ..streaming import check_stream_frame, check_streamable, streaming_problems


@MODELS.register_module()
class VideoPoseLifter(PoseLifter):
    """3D pose of every frame of a clip: spiking video backbone -> (neck) -> head.

    MMPose's ``PoseLifter`` lifts 2D keypoint sequences; this one takes the pixels,
    ``inputs`` ``(N, 3, T, H, W)`` float (from :class:`ClipDataPreprocessor`), and predicts
    ``T`` instances per sample (one per frame): ``pred_instances.keypoints`` ``[T, J, 3]``, the
    layout of the samples' ``gt_instances.lifting_target`` that
    :class:`~mmspike.evaluation.pose.VideoPose3DMetric` reads.

    Args:
        backbone (dict): a video backbone returning ``[T, N, C, H, W]`` maps (SpikeVideoFormer,
            SVFormer, ...).
        neck (dict, optional): applied to the backbone's tuple; the head must accept its output.
        head (dict): e.g. ``dict(type='SpikeTemporalRegressionHead', in_channels=96)``.
        train_cfg (dict, optional): passed to the head's ``loss``.
        test_cfg (dict, optional): passed to the head's ``predict``; ``flip_test`` must be
            False (flipping clips is not supported); ``output_keypoint_indices`` works as in
            ``PoseLifter``.
        data_preprocessor (dict, optional): defaults to ``dict(type='ClipDataPreprocessor')``
            (no normalisation); built from ``mmpose.registry.MODELS``.
        init_cfg, metainfo: as ``PoseLifter``.

    The trajectory model and semi-supervised loss of ``PoseLifter`` are not supported.

    Online use: when :attr:`causal` (a causal backbone, no neck, a per-step head), the model
    can run a video one frame at a time, carrying the neuron states (and causal attention's
    running sum) from frame to frame; the joints equal those of the whole-clip forward::

        model.eval()
        with model.streaming():
            for frame in frames:                    # [N, 3, H, W], raw pixels
                joints = model.predict_frame(frame)  # [N, J, 3]
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None,
                 metainfo: Optional[dict] = None):
        self._check_test_cfg(test_cfg)
        super().__init__(backbone=backbone, neck=neck, head=head, train_cfg=train_cfg,
                         test_cfg=test_cfg,
                         data_preprocessor=clip_preprocessor(data_preprocessor, MODELS),
                         init_cfg=init_cfg, metainfo=metainfo)

    @staticmethod
    def _check_test_cfg(test_cfg):
        if test_cfg and test_cfg.get('flip_test', False):
            raise ValueError('VideoPoseLifter does not support test_cfg flip_test=True '
                             '(flip-testing video clips is not implemented); set it to False')

    def why_not_causal(self) -> Optional[str]:
        """None when the joints of frame ``t`` depend on frames ``<= t`` only; else what is not
        causal, in words: the backbone must be causal (its ``causal`` attribute), there must be
        no neck (necks pool or mix time steps) and the head must work step by step (its
        ``causal`` attribute)."""
        problems = streaming_problems(self.backbone, self.neck if self.with_neck else None)
        if not bool(getattr(self.head, 'causal', False)):
            problems.append(f'the head {type(self.head).__name__} is not causal (its output of '
                            f'step t must depend on step t only, as SpikeTemporalRegressionHead)')
        return '; '.join(problems) if problems else None

    @property
    def causal(self) -> bool:
        """Whether the joints of frame ``t`` depend on frames ``<= t`` only
        (:meth:`why_not_causal`)."""
        return self.why_not_causal() is None

    @contextlib.contextmanager
    def streaming(self):
        """Context for :meth:`predict_frame`: a new video starts (states reset) on entering."""
        check_streamable(self, self.why_not_causal(), 'SpikeTemporalRegressionHead')
        with self.backbone.streaming():
            yield self

    @torch.no_grad()
    def predict_frame(self, frame: Tensor) -> Tensor:
        """Joints ``[N, J, 3]`` of the next frame ``[N, C, H, W]`` (raw pixels, normalised by
        the data preprocessor) of the videos being streamed (inside :meth:`streaming`)."""
        check_stream_frame(self.backbone, frame)
        inputs = self.data_preprocessor(dict(inputs=frame.unsqueeze(2)))['inputs']
        return self.head.forward(self.extract_feat(inputs))[:, 0]

    def _check_inputs(self, inputs: Tensor) -> None:
        if not torch.is_tensor(inputs) or inputs.dim() != 5:
            shape = tuple(inputs.shape) if torch.is_tensor(inputs) else type(inputs).__name__
            raise ValueError(f'VideoPoseLifter expects inputs (N, C, T, H, W) (clips from '
                             f'ClipDataPreprocessor), got {shape}')

    def extract_feat(self, inputs: Tensor):
        self._check_inputs(inputs)
        feats = self.backbone(inputs)
        if self.with_neck:
            feats = self.neck(feats)
        return feats

    def loss(self, inputs: Tensor, data_samples: List) -> dict:
        if not self.with_head:
            raise RuntimeError('VideoPoseLifter needs a head to compute losses')
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples, train_cfg=self.train_cfg)

    def predict(self, inputs: Tensor, data_samples: List) -> List:
        if not self.with_head:
            raise RuntimeError('VideoPoseLifter needs a head to predict')
        self._check_test_cfg(self.test_cfg)
        feats = self.extract_feat(inputs)
        preds = self.head.predict(feats, data_samples, test_cfg=self.test_cfg)
        pred_fields = None
        if isinstance(preds, tuple):
            preds, pred_fields = preds
        if len(preds) != len(data_samples):
            raise RuntimeError(f'the head returned {len(preds)} predictions for '
                               f'{len(data_samples)} data samples')
        # PoseLifter's version sets pred_instances (T instances here) per sample and applies
        # output_keypoint_indices on the joint axis, which is axis 1 of [T, J, 3] too.
        return self.add_pred_to_datasample(preds, pred_fields, None, None, data_samples)
