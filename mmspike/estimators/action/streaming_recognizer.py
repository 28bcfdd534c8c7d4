"""Frame-by-frame (online) action recognition with a causal MMAction2 recognizer."""
from __future__ import annotations

import contextlib
from typing import Optional

import torch
from torch import Tensor, nn

from ..streaming import check_stream_frame, check_streamable, streaming_problems
from ...neurons.stateful import reset_neurons


class StreamingRecognizer:
    """Run an MMAction2 recognizer on a video one frame at a time.

    The recognizer must be causal: a causal backbone (its ``causal`` attribute, e.g.
    SpikeVideoFormer ``attention='causal'``), no neck (necks pool or mix time steps) and a head
    whose logits of step ``t`` depend on steps ``<= t`` only (its ``causal`` attribute, and a
    ``forward_steps`` method returning per-step logits without resetting its state, e.g.
    :class:`~mmspike.heads.action.SpikingClsHead`).  Inside :meth:`streaming` the neuron
    states (and causal attention's running key-value sum) are carried from frame to frame, and
    :meth:`predict_frame` returns the running clip score after each frame: the mean of the
    per-step logits of frames ``1..t``, which equals the recognizer's whole-clip logits
    (``cls_head(backbone(clip))``) of the first ``t`` frames::

        recognizer.eval()
        online = StreamingRecognizer(recognizer)
        with online.streaming():
            for frame in frames:                       # [N, 3, H, W], raw RGB pixels
                cls_score = online.predict_frame(frame)  # [N, num_classes]
        probs = online.scores(cls_score)               # the head's average_clips

    Memory does not grow with the video's length: only the states and the running sum of the
    logits are kept.

    Args:
        recognizer (nn.Module): an MMAction2 recognizer (``backbone``, ``cls_head``,
            ``data_preprocessor``; e.g. ``Recognizer3D``), in eval mode when streaming.
    """

    def __init__(self, recognizer: nn.Module):
        for attr in ('backbone', 'data_preprocessor'):
            if not hasattr(recognizer, attr):
                raise TypeError(f'StreamingRecognizer expects an MMAction2 recognizer (with a '
                                f'{attr}), got {type(recognizer).__name__}')
        self.recognizer = recognizer
        self._sum: Optional[Tensor] = None
        self._count = 0
        self.is_streaming = False

    @property
    def backbone(self) -> nn.Module:
        return self.recognizer.backbone

    @property
    def head(self) -> Optional[nn.Module]:
        return getattr(self.recognizer, 'cls_head', None)

    def why_not_causal(self) -> Optional[str]:
        """None if the recognizer can stream; else what is not causal, in words."""
        problems = streaming_problems(self.backbone, getattr(self.recognizer, 'neck', None))
        head = self.head
        if head is None:
            problems.append('it has no cls_head')
        elif not (bool(getattr(head, 'causal', False)) and hasattr(head, 'forward_steps')):
            problems.append(f'the head {type(head).__name__} is not causal (it needs '
                            f'causal=True and per-step logits, forward_steps, as SpikingClsHead)')
        if not problems:
            return None
        return '; '.join(problems)

    @property
    def causal(self) -> bool:
        """Whether the clip score after frame ``t`` depends on frames ``<= t`` only."""
        return self.why_not_causal() is None

    @contextlib.contextmanager
    def streaming(self):
        """Context for :meth:`predict_frame`: a new video starts (states and the running sum
        reset) on entering; the states are reset again on leaving."""
        check_streamable(self.recognizer, self.why_not_causal(), 'SpikingClsHead')
        with self.backbone.streaming():
            reset_neurons(self.head)
            self._sum, self._count = None, 0
            self.is_streaming = True
            try:
                yield self
            finally:
                self.is_streaming = False
                self._sum, self._count = None, 0
                reset_neurons(self.head)

    @property
    def num_frames(self) -> int:
        """Frames fed since :meth:`streaming` was entered."""
        return self._count

    @torch.no_grad()
    def step_logits(self, frame: Tensor) -> Tensor:
        """The logits ``[N, num_classes]`` of the next frame ``[N, C, H, W]`` alone (raw
        pixels, normalised by the recognizer's data preprocessor), continuing the videos being
        streamed; :meth:`predict_frame` averages them."""
        if not self.is_streaming:
            raise RuntimeError('predict_frame needs the streaming() context (it resets the '
                               'state at the start of a video)')
        check_stream_frame(self.backbone, frame)
        # MMAction2's layout: one [num_views=1, C, T=1, H, W] clip per sample
        clips = list(frame[:, None, :, None])
        inputs = self.recognizer.data_preprocessor(
            dict(inputs=clips, data_samples=None), False)['inputs']
        inputs = inputs.reshape((-1, ) + tuple(inputs.shape[2:]))  # [N, C, 1, H, W]
        feats = self.backbone(inputs)
        return self.head.forward_steps(feats)[0]

    @torch.no_grad()
    def predict_frame(self, frame: Tensor) -> Tensor:
        """The running clip score ``[N, num_classes]`` after the next frame ``[N, C, H, W]``:
        the mean of the per-step logits of every frame fed since :meth:`streaming` began, i.e.
        the whole-clip logits of these frames."""
        logits = self.step_logits(frame)
        self._sum = logits.clone() if self._sum is None else self._sum + logits
        self._count += 1
        return self._sum / self._count

    def scores(self, cls_score: Tensor) -> Tensor:
        """Class scores as the head's ``predict`` gives them: softmax for
        ``average_clips='prob'``, the logits otherwise."""
        if getattr(self.head, 'average_clips', None) == 'prob':
            return cls_score.softmax(dim=-1)
        return cls_score
