"""Causal space-time attention and frame-by-frame (online) inference."""
import pytest
import torch

import mmspike  # noqa: F401
from helpers import calibrate_batch_norms
from mmspike.backbones import SpikeVideoFormer, SVFormer
from mmspike.backbones.base import checkpoint_stateful
from mmspike.neurons import reset_neurons
from mmspike.ops import (causal_dot_attention, causal_hamming_attention, hamming_attention,
                         naive_causal_attention)


def _calibrated(model, frames):
    """``model`` in eval mode with the BatchNorm statistics of one random batch."""
    return calibrate_batch_norms(model, lambda: model(torch.randn(4, 3, frames, 32, 32)))


def _spikes(*shape):
    return (torch.rand(shape) < 0.4).double()


@pytest.mark.parametrize('signed', [True, False])
def test_causal_attention_equals_its_quadratic_form(signed):
    torch.manual_seed(0)
    q, k, v = _spikes(5, 2, 3, 7, 4), _spikes(5, 2, 3, 7, 4), _spikes(5, 2, 3, 7, 6)
    op = causal_hamming_attention if signed else causal_dot_attention
    out, state = op(q, k, v, 0.1)
    torch.testing.assert_close(out, naive_causal_attention(q, k, v, 0.1, signed))
    assert state.shape == (2, 3, 4, 6)


def test_causal_attention_fed_in_pieces_equals_one_call():
    torch.manual_seed(1)
    q, k, v = _spikes(6, 2, 5, 4), _spikes(6, 2, 5, 4), _spikes(6, 2, 5, 3)
    whole, _ = causal_hamming_attention(q, k, v, 0.25)
    state, pieces = None, []
    for t in range(6):  # one frame per call
        out, state = causal_hamming_attention(q[t:t + 1], k[t:t + 1], v[t:t + 1], 0.25, state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces), whole, rtol=0, atol=1e-12)
    # the last frame attends to every frame: the joint (non-causal) attention over T*N tokens
    joint = hamming_attention(q.transpose(0, 1).reshape(2, 30, 4),
                              k.transpose(0, 1).reshape(2, 30, 4),
                              v.transpose(0, 1).reshape(2, 30, 3), 0.25)
    torch.testing.assert_close(whole[-1], joint.view(2, 6, 5, 3)[:, -1])
    with pytest.raises(ValueError, match='state has shape'):
        causal_hamming_attention(q[:1, :1], k[:1, :1], v[:1, :1], 0.25, state)


def test_a_later_frame_does_not_change_earlier_outputs():
    torch.manual_seed(2)
    model = _calibrated(SpikeVideoFormer(arch='tiny', attention='causal', num_frames=4), 4)
    x = torch.randn(2, 3, 4, 32, 32)
    changed = x.clone()
    changed[:, :, -1] = torch.randn(2, 3, 32, 32) * 3
    with torch.no_grad():
        a, b = model(x)[0], model(changed)[0]
    torch.testing.assert_close(a[:3], b[:3], rtol=0, atol=0)
    assert not torch.allclose(a[3], b[3])
    joint = _calibrated(SpikeVideoFormer(arch='tiny', attention='joint', num_frames=4), 4)
    with torch.no_grad():
        assert not torch.allclose(joint(x)[0][0], joint(changed)[0][0])


@pytest.mark.parametrize('attention', ['causal', 'spatial'])
def test_streaming_frame_by_frame_equals_the_whole_clip(attention):
    torch.manual_seed(3)
    model = SpikeVideoFormer(arch='tiny', attention=attention, num_frames=6,
                             out_indices=(1, 3))
    _calibrated(model, 6)
    x = torch.randn(2, 3, 6, 32, 32)
    with torch.no_grad():
        whole = model(x)
        with model.streaming():
            steps = [model(x[:, :, t:t + 1]) for t in range(6)]
    assert model.is_streaming is False
    for i, full in enumerate(whole):
        torch.testing.assert_close(torch.cat([s[i] for s in steps]), full, rtol=1e-5, atol=1e-5)
    # outside streaming() every call starts afresh and checks T
    with pytest.raises(ValueError, match='T=6 frames, got T=1'):
        model(x[:, :, :1])


def test_streaming_refuses_non_causal_models_and_training_mode():
    with pytest.raises(ValueError, match='not causal'):
        with SpikeVideoFormer(arch='tiny', attention='joint').eval().streaming():
            pass
    with pytest.raises(ValueError, match='not causal'):
        with SVFormer(arch='tiny', num_frames=4, img_size=64).eval().streaming():
            pass
    with pytest.raises(RuntimeError, match='eval mode'):
        with SpikeVideoFormer(arch='tiny', attention='causal').train().streaming():
            pass
    with pytest.raises(ValueError, match="sim='softmax'"):
        SpikeVideoFormer(arch='tiny', attention='causal', sim='softmax')


def test_causal_state_is_reset_and_restored_like_a_membrane():
    torch.manual_seed(4)
    model = SpikeVideoFormer(arch='tiny', attention='causal').eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 2, 32, 32))
    states = [m.causal_state for m in model.modules() if getattr(m, 'causal_state', None)]
    assert states and all(s.kv is not None for s in states)
    reset_neurons(model)
    assert all(s.kv is None for s in states)
    # gradient checkpointing recomputes a block from the causal sum it started from
    block = model.stage3[0].train()
    x0 = torch.randn(2, 2, 64, 2, 2)
    x1 = torch.randn(2, 2, 64, 2, 2)

    buffers = {k: v.clone() for k, v in block.state_dict().items()}

    def run(use_cp, warm=True):
        block.load_state_dict(buffers)  # RepConv's padding reads the BN running statistics
        reset_neurons(block)
        if warm:
            block(x0)  # leaves a non-zero causal sum and membranes
        block.zero_grad()
        x = x1.clone().requires_grad_()
        out = checkpoint_stateful(block, x) if use_cp else block(x)
        out.pow(2).sum().backward()
        return out.detach(), x.grad

    plain = run(False)
    assert not torch.allclose(run(False, warm=False)[0], plain[0])  # the state matters
    for a, b in zip(plain, run(True)):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
