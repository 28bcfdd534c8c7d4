"""Task-agnostic hooks (root ``HOOKS`` registry): neuron-state reset, firing-rate recording,
the run check, checkpoint checks, RNG state and the writing of a config's embedded dataset.
Task hooks live in ``hooks/pose/`` and ``hooks/seg/`` and are registered by their task
adapter."""
from .checkpoint_hooks import CheckpointShapeCheckHook, RNGStateHook
from .dataset_check_hook import DatasetCheckHook
from .embedded_dataset_hook import EmbeddedDatasetHook
from .firing_rate_hook import FiringRateHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .picture_hook import BasePictureHook
from .spike_reset_hook import SpikeResetHook

__all__ = ['SpikeResetHook', 'FiringRateHook', 'DatasetCheckHook', 'RNGStateHook',
           'CheckpointShapeCheckHook', 'BasePictureHook', 'EmbeddedDatasetHook',
           'NonFiniteLossHook', 'NonFiniteLossError']
