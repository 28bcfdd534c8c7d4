"""3D pose heads: subclasses of MMPose's ``BaseHead``, registered in ``mmpose.registry.MODELS``.

* :class:`SpikeTemporalRegressionHead`: per-time-step regression of root-relative 3D joints
  from a spiking backbone's ``[T, N, C, H, W]`` maps.  (MMPose already registers a
  ``TemporalRegressionHead``, a 2D-to-3D lifting head, hence the prefix.)
"""
from .temporal_regression_head import SpikeTemporalRegressionHead

__all__ = ['SpikeTemporalRegressionHead']
