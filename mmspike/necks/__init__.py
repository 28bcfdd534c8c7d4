"""Necks shared by every task (no task codebase imported)."""
from .temporal_neck import TemporalNeck

__all__ = ['TemporalNeck']
