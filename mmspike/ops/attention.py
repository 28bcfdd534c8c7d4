"""Spike-driven attention in linear order, with quadratic references for the tests.

All functions take ``q, k: [..., N, d]`` and ``v: [..., N, d_v]`` and return ``[..., N, d_v]``;
the causal ones take a leading time dimension, ``[T, ..., N, d]``, and also return the state to
carry to the next call.
"""
from typing import Optional, Tuple

import torch


def hamming_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      scale: float) -> torch.Tensor:
    """Spike-driven Hamming attention (SDHA, Zou et al. 2025) in linear order.

    For binary ``q, k`` the normalised Hamming similarity of a query and a key is
    ``f_H(q, k) = [q.k + (1-q).(1-k)] / d = 1/2 + (2q-1).(2k-1) / (2d)``.  Dropping the constant,
    ``out = (2Q-1) @ ((2K-1)^T @ V) * scale``; the bracket is computed first, so the cost is
    ``O(N d d_v)``: linear in the number of tokens ``N`` (``T*H*W`` for joint space-time
    attention, hence linear in the number of frames).
    """
    q_signed = 2.0 * q - 1.0
    k_signed = 2.0 * k - 1.0
    return (q_signed @ (k_signed.transpose(-2, -1) @ v)) * scale


def naive_hamming_attention(q, k, v, scale):
    """Quadratic reference: ``out_i = sum_j [(2q_i-1).(2k_j-1)] v_j * scale``."""
    similarity = (2.0 * q - 1.0) @ (2.0 * k - 1.0).transpose(-2, -1)  # [..., N, N]
    return (similarity @ v) * scale


def dot_attention(q, k, v, scale):
    """Spike-driven dot-product attention in linear order: ``Q (K^T V) * scale``."""
    return (q @ (k.transpose(-2, -1) @ v)) * scale


def naive_dot_attention(q, k, v, scale):
    """Quadratic reference of :func:`dot_attention`: ``(Q K^T) V * scale``."""
    return ((q @ k.transpose(-2, -1)) @ v) * scale


def softmax_attention(q, k, v, scale):
    """Quadratic softmax attention ``softmax(Q K^T * scale) V``, the O(N^2) contrast."""
    return torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1) @ v


def _causal_linear_attention(q_feat, k_feat, v, scale, past_kv):
    kv = (k_feat.transpose(-2, -1) @ v).cumsum(0)   # [T, ..., d, d_v]: sum over s <= t
    if past_kv is not None:
        if past_kv.shape != kv.shape[1:]:
            raise ValueError(f'causal attention state has shape {tuple(past_kv.shape)}, the '
                             f'input needs {tuple(kv.shape[1:])}; reset the state between '
                             f'videos (reset_neurons / SpikeResetHook)')
        kv = kv + past_kv
    return (q_feat @ kv) * scale, kv[-1]


def causal_hamming_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                             past_kv: Optional[torch.Tensor] = None
                             ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Causal space-time SDHA: every token of frame ``t`` attends to all tokens of frames
    ``s <= t`` (and to the frames of earlier calls, summed in ``past_kv``).

    ``q, k: [T, ..., N, d]``, ``v: [T, ..., N, d_v]``.  With ``S_t = past_kv + sum_{s<=t}
    (2K_s-1)^T V_s`` (``[..., d, d_v]``), ``out_t = (2Q_t-1) @ S_t * scale``.  Returns ``out``
    ``[T, ..., N, d_v]`` and ``S_T``, the state to pass as ``past_kv`` with the next frames, so
    a video fed in pieces (e.g. one frame per call) gives the outputs of the whole video in one
    call with memory that does not grow with its length.  With ``T`` frames in one call and no
    past, the last frame's output equals :func:`hamming_attention` over all ``T*N`` tokens.
    """
    return _causal_linear_attention(2.0 * q - 1.0, 2.0 * k - 1.0, v, scale, past_kv)


def causal_dot_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                         past_kv: Optional[torch.Tensor] = None
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Causal space-time dot-product attention: ``out_t = Q_t @ S_t * scale`` with ``S_t =
    past_kv + sum_{s<=t} K_s^T V_s``; returns ``(out, S_T)`` like
    :func:`causal_hamming_attention`."""
    return _causal_linear_attention(q, k, v, scale, past_kv)


def naive_causal_attention(q, k, v, scale, signed):
    """Quadratic reference of the causal attentions over ``[T, ..., N, d]``:
    ``out[t, i] = sum_{s<=t} sum_j sim(q[t, i], k[s, j]) v[s, j] * scale`` with ``sim`` the
    Hamming form ``(2q-1).(2k-1)`` (``signed``) or the dot product."""
    if signed:
        q, k = 2.0 * q - 1.0, 2.0 * k - 1.0
    steps = q.shape[0]
    out = torch.zeros(q.shape[:-1] + v.shape[-1:], dtype=v.dtype)
    for t in range(steps):
        for s in range(t + 1):
            out[t] += (q[t] @ k[s].transpose(-2, -1)) @ v[s]
    return out * scale
