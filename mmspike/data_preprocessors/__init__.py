"""Data preprocessors: batch clips into ``(N, C, T, H, W)`` (no task codebase imported)."""
from .clip_data_preprocessor import ClipDataPreprocessor

__all__ = ['ClipDataPreprocessor']
