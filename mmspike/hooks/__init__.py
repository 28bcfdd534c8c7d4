from .firing_rate_hook import FiringRateHook
from .spike_reset_hook import SpikeResetHook

__all__ = ['SpikeResetHook', 'FiringRateHook']
