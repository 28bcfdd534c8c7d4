"""mmspike.estimators.streaming: what keeps a task model from running frame by frame, the one
error for it, and the checks of a frame."""
import pytest
import torch
from torch import nn

from mmspike.backbones import SpikeVideoFormer
from mmspike.estimators.streaming import (check_stream_frame, check_streamable,
                                          streaming_problems)


def test_streaming_problems_name_the_backbone_and_the_neck():
    causal = SpikeVideoFormer(arch='tiny', attention='causal')
    joint = SpikeVideoFormer(arch='tiny', attention='joint')
    assert streaming_problems(causal, None) == []
    assert streaming_problems(joint, nn.Identity()) == [
        "the backbone SpikeVideoFormer (attention='joint') is not causal",
        'it has a neck (Identity; necks mix or pool time steps), expected none']
    assert streaming_problems(nn.Linear(2, 2), None) == ['the backbone Linear is not causal']


def test_check_streamable_raises_one_message():
    check_streamable(nn.Linear(2, 2), None, 'AnyHead')
    with pytest.raises(ValueError, match=r"^Linear is not causal, so it cannot run frame by "
                                         r"frame: the neck; use e\.g\. SpikeVideoFormer "
                                         r"attention='causal', no neck and AnyHead$"):
        check_streamable(nn.Linear(2, 2), 'the neck', 'AnyHead')


def test_check_stream_frame():
    backbone = SpikeVideoFormer(arch='tiny', attention='causal').eval()
    with pytest.raises(RuntimeError, match=r'needs the streaming\(\) context'):
        check_stream_frame(backbone, torch.zeros(1, 3, 32, 32))
    with backbone.streaming():
        check_stream_frame(backbone, torch.zeros(1, 3, 32, 32))
        with pytest.raises(ValueError, match=r'\[N, C, H, W\], got \(3, 32, 32\)'):
            check_stream_frame(backbone, torch.zeros(3, 32, 32))
        with pytest.raises(ValueError, match=r'\[N, C, H, W\], got ndarray'):
            check_stream_frame(backbone, torch.zeros(1, 3, 32, 32).numpy())
