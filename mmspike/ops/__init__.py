"""Small pure functions for spiking attention (formulas in the docstrings)."""
from .attention import (causal_dot_attention, causal_hamming_attention, dot_attention,
                        hamming_attention, naive_causal_attention, naive_dot_attention,
                        naive_hamming_attention, softmax_attention)

__all__ = ['hamming_attention', 'naive_hamming_attention', 'dot_attention',
           'naive_dot_attention', 'softmax_attention', 'causal_hamming_attention',
           'causal_dot_attention', 'naive_causal_attention']
