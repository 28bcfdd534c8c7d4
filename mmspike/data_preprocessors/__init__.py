"""Data preprocessors: batch clips into ``(N, C, T, H, W)`` (no task codebase imported)."""
from .clip_data_preprocessor import ClipDataPreprocessor, clip_preprocessor

__all__ = ['ClipDataPreprocessor', 'clip_preprocessor']
