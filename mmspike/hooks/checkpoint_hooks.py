"""Hooks that make a checkpoint resume exactly and refuse a checkpoint made for another model."""
import random
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

RNG_KEY = 'rng_state'


def capture_rng_state() -> Dict[str, Any]:
    """The torch (CPU and CUDA), numpy and Python random states, as types the safe checkpoint
    loader allows (tensors, lists, tuples, ints, floats, strings)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(torch=torch.get_rng_state(),
                 numpy=dict(name=str(name), keys=keys.tolist(), pos=int(pos),
                            has_gauss=int(has_gauss), cached_gaussian=float(cached)),
                 python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Set the generators to a :func:`capture_rng_state` result (CUDA only when the number of
    devices matches)."""
    torch.set_rng_state(state['torch'])
    npy = state['numpy']
    np.random.set_state((npy['name'], np.asarray(npy['keys'], dtype=np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached_gaussian']))
    python = state['python']
    random.setstate((python[0], tuple(python[1]), python[2]))
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class _RestoreAfterSkip:
    """Wraps an iteration-based loop's data iterator: after ``skip`` batches (mmengine's
    "Advance dataloader" on resume) it restores the RNG state, then fetches as usual."""

    def __init__(self, iterator, skip: int, state: Dict[str, Any]):
        self._iterator = iterator
        self._skip = skip
        self._state = state

    def __iter__(self):
        return self

    def __next__(self):
        if self._skip == 0 and self._state is not None:
            restore_rng_state(self._state)
            self._state = None
        self._skip -= 1
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the torch / numpy / Python RNG states in every checkpoint and restore them on resume,
    so that a resumed run draws the same dropout, drop-path and augmentation numbers as an
    uninterrupted one.

    mmengine re-seeds on resume but keeps no generator state.  The states are captured in
    ``before_save_checkpoint`` (after the step that the checkpoint follows) under
    ``checkpoint['rng_state']`` and restored only when resuming (``resume=True``), not for
    ``load_from``: with an iteration-based loop right after mmengine has skipped the batches
    already trained (the skip runs the data pipeline, which draws random numbers), otherwise at
    ``before_train``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and RNG_KEY in checkpoint:
            self._pending = checkpoint[RNG_KEY]

    def before_train(self, runner) -> None:
        state, self._pending = self._pending, None
        if state is None:
            return
        loop = runner.train_loop
        if runner.iter > 0 and hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _RestoreAfterSkip(loop.dataloader_iterator, runner.iter,
                                                         state)
        else:
            restore_rng_state(state)


def first_shape_mismatch(checkpoint_state: Dict[str, Any], model_state: Dict[str, Any],
                         ignore_prefixes: Sequence[str] = ()) -> Optional[tuple]:
    """``(key, checkpoint shape, model shape, count)`` for the first key (checkpoint order) whose
    tensor shapes differ, ``count`` the number of such keys; None when all shared keys match.

    Args:
        checkpoint_state (dict): the checkpoint's state dict (``module.`` prefixes allowed).
        model_state (dict): the model's state dict.
        ignore_prefixes (Sequence[str]): keys starting with one of these are not compared.
            Defaults to ().
    """
    mismatches = []
    for key, value in checkpoint_state.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if any(key.startswith(prefix) for prefix in ignore_prefixes):
            continue
        target = model_state.get(key)
        if not (torch.is_tensor(value) and torch.is_tensor(target)):
            continue
        if tuple(value.shape) != tuple(target.shape):
            mismatches.append((key, tuple(value.shape), tuple(target.shape)))
    if not mismatches:
        return None
    return mismatches[0] + (len(mismatches), )


def shape_mismatch_message(source: str, found: tuple, remedy: str) -> str:
    """The error for a checkpoint whose tensor shapes do not fit the model.

    Args:
        source (str): the checkpoint, as the message names it (e.g. its quoted path).
        found (tuple): what :func:`first_shape_mismatch` returned.
        remedy (str): what to do about it, appended to the message.
    """
    key, ckpt_shape, model_shape, count = found
    return (f'checkpoint {source} does not fit the model: {key!r} has shape {ckpt_shape} in the '
            f'checkpoint but {model_shape} in the model (the first of {count} mismatching '
            f'tensor(s)). {remedy}')


@HOOKS.register_module()
class CheckpointShapeCheckHook(Hook):
    """Refuse a checkpoint (``load_from``, ``resume``, ``tools/test.py CKPT``) whose tensor shapes
    do not match the model, before any weight is copied and before any step runs.

    mmengine's non-strict loading only logs "size mismatch" and goes on with the model's
    initial weights for those tensors.  Missing and unexpected keys are left to mmengine (logged).

    Args:
        ignore_prefixes (str | Sequence[str]): state-dict key prefixes not checked, e.g.
            ``['cls_head.']`` to fine-tune from a checkpoint with another number of classes (the
            mismatching head is then skipped with mmengine's warning).  Defaults to ().
    """

    priority = 'VERY_HIGH'

    def __init__(self, ignore_prefixes: Union[str, Sequence[str]] = ()) -> None:
        if isinstance(ignore_prefixes, str):  # `--cfg-options ...ignore_prefixes=cls_head.`
            ignore_prefixes = (ignore_prefixes, )
        self.ignore_prefixes = tuple(ignore_prefixes)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        found = first_shape_mismatch(state, model.state_dict(), self.ignore_prefixes)
        if found is None:
            return
        source = getattr(runner, '_load_from', None)
        source = repr(source) if source else '(the checkpoint being loaded)'
        raise ValueError(shape_mismatch_message(
            source, found, 'Use the checkpoint of this config, or list the prefixes to skip in '
            "default_hooks.checkpoint_check.ignore_prefixes (e.g. ['cls_head.'] to fine-tune "
            'with a new head).'))
