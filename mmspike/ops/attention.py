"""Spike-driven attention in linear order, with quadratic references for the tests.

All functions take ``q, k: [..., N, d]`` and ``v: [..., N, d_v]`` and return ``[..., N, d_v]``.
"""
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
