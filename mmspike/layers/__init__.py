"""Spiking layers shared by the backbones and heads: time-major wrappers of 2D layers
(:class:`SeqToANN`) and per-time-step BatchNorm.  Neurons are built by
:func:`mmspike.neurons.build_neuron`."""
from .temporal import (SeqToANN, TemporalBatchNorm1d, TemporalBatchNorm2d, check_video_input,
                       last_feature_map, positive_pair)

__all__ = ['SeqToANN', 'TemporalBatchNorm1d', 'TemporalBatchNorm2d', 'check_video_input',
           'last_feature_map', 'positive_pair']
