"""Spiking layers shared by the backbones and heads: time-major wrappers of 2D layers
(:class:`SeqToANN`), per-time-step BatchNorm and the neuron builder."""
from .temporal import (SeqToANN, TemporalBatchNorm1d, TemporalBatchNorm2d, build_neuron,
                       check_video_input, last_feature_map, positive_pair)

__all__ = ['SeqToANN', 'TemporalBatchNorm1d', 'TemporalBatchNorm2d', 'build_neuron',
           'check_video_input', 'last_feature_map', 'positive_pair']
