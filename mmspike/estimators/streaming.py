"""What the task models that run a video frame by frame share (task-agnostic: no codebase is
imported): why a model is not causal, the one error for it, and the checks of a frame.

Used by :class:`mmspike.estimators.action.StreamingRecognizer`,
:class:`mmspike.estimators.pose.VideoPoseLifter` and :mod:`mmspike.apis.streaming`.
"""
from typing import List, Optional

import torch
from torch import nn


def streaming_problems(backbone: nn.Module, neck: Optional[nn.Module]) -> List[str]:
    """What keeps a task model's backbone -> neck part from running a video frame by frame, in
    words (empty when nothing does): a backbone that is not
    :attr:`~mmspike.backbones.BaseSpikingBackbone.causal`, or a neck (necks pool or mix time
    steps).  The task models add their head's condition.

    Args:
        backbone (nn.Module): the model's backbone.
        neck (nn.Module, optional): the model's neck; None when it has none.
    """
    problems = []
    if not bool(getattr(backbone, 'causal', False)):
        attention = getattr(backbone, 'attention', None)
        detail = f' (attention={attention!r})' if attention is not None else ''
        problems.append(f'the backbone {type(backbone).__name__}{detail} is not causal')
    if neck is not None:
        problems.append(f'it has a neck ({type(neck).__name__}; necks mix or pool time steps), '
                        f'expected none')
    return problems


def check_streamable(model: object, problem: Optional[str], head_example: str) -> None:
    """Raise the error of a task model whose ``why_not_causal()`` gave ``problem`` (None:
    nothing to raise).

    Args:
        model (object): the task model (named in the message).
        problem (str, optional): what is not causal, in words.
        head_example (str): a head of the task that works step by step.
    """
    if problem is not None:
        raise ValueError(f'{type(model).__name__} is not causal, so it cannot run frame by '
                         f"frame: {problem}; use e.g. SpikeVideoFormer attention='causal', no "
                         f'neck and {head_example}')


def check_stream_frame(backbone: nn.Module, frame) -> None:
    """Checks shared by the frame-by-frame ``predict_frame`` methods of the task models:
    ``backbone`` is inside :meth:`~mmspike.backbones.BaseSpikingBackbone.streaming` and
    ``frame`` is one frame per video, ``[N, C, H, W]``.

    Args:
        backbone (nn.Module): the model's backbone.
        frame (torch.Tensor): the next frame of every video.
    """
    if not getattr(backbone, 'is_streaming', False):
        raise RuntimeError('predict_frame needs the streaming() context (it resets the state '
                           'at the start of a video)')
    if not torch.is_tensor(frame) or frame.dim() != 4:
        shape = tuple(frame.shape) if torch.is_tensor(frame) else type(frame).__name__
        raise ValueError(f'predict_frame expects one frame per video, [N, C, H, W], got '
                         f'{shape}')
