"""Datasets shipped with mmspike.

:mod:`mmspike.datasets.motion_clips` generates the embedded demo dataset (imported lazily: it
needs OpenCV, not torch); :class:`ShuffleFrames` is the frame-order control transform.
"""
import os
import os.path as osp
import time

from .transforms import ShuffleFrames

__all__ = ['prepare_embedded_dataset', 'ShuffleFrames']


def prepare_embedded_dataset(cfg, timeout_s=600):
    """Generate the embedded dataset a config names in ``embedded_dataset`` (idempotent).

    Under a distributed launch only local rank 0 writes; the other ranks wait for its
    ``meta.json``.  Does nothing for configs without ``embedded_dataset``.
    """
    spec = cfg.get('embedded_dataset', None)
    if not spec:
        return None
    spec = dict(spec)
    root = spec.pop('root')
    if int(os.environ.get('LOCAL_RANK', '0')) == 0:
        from .motion_clips import write_dataset
        return write_dataset(root, **spec)
    deadline = time.time() + timeout_s
    while not osp.isfile(osp.join(root, 'meta.json')):
        if time.time() > deadline:
            raise TimeoutError(f'rank {os.environ.get("LOCAL_RANK")} waited {timeout_s}s for '
                               f'local rank 0 to write the embedded dataset in {root!r}')
        time.sleep(1)
    return None
