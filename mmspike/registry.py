"""Where mmspike registers its modules.

mmspike's classes are registered in mmengine's *root* registries.  Every OpenMMLab codebase's
registry (``mmaction``, ``mmpose``, ``mmseg``, ``mmdet``) is a child of these roots and, for an
unscoped name such as ``type='SVFormer'``, searches itself and then its parents.  So one
registration makes the names resolve in configs whose ``default_scope`` is any of those
codebases, without importing them (importing ``mmspike`` must not require mmpose or mmseg).
Names are prefixed or specific enough (``SVFormer``, ``SpikeResetHook``) not to shadow
codebase classes.
"""
from mmengine.registry import DATASETS, EVALUATOR, HOOKS, METRICS, MODELS, TRANSFORMS

__all__ = ['MODELS', 'HOOKS', 'METRICS', 'DATASETS', 'TRANSFORMS', 'EVALUATOR']
