"""Skeleton videos of 3D pose predictions (NumPy / OpenCV only; no task codebase imported)."""
from .pose_video import (GT_COLOUR, PRED_COLOUR, edges_from_parents, per_frame_mpjpe,
                         render_pose_frame, write_pose_video)

__all__ = ['GT_COLOUR', 'PRED_COLOUR', 'edges_from_parents', 'per_frame_mpjpe',
           'render_pose_frame', 'write_pose_video']
