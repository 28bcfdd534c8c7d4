"""Pure metric functions (NumPy; no task codebase imported)."""
from .pose import accel_error, as_float64, mpjpe, pa_mpjpe, pel_mpjpe, procrustes_align
from .segmentation import mean_video_consistency, video_consistency

__all__ = ['mpjpe', 'pel_mpjpe', 'pa_mpjpe', 'accel_error', 'procrustes_align', 'as_float64',
           'video_consistency', 'mean_video_consistency']
