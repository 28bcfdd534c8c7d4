"""The embedded demo datasets, generated on first use (OpenCV; no task codebase imported).

* :mod:`.motion_clips`: action recognition, MP4s with MMAction2 annotation lists;
* :mod:`.motion_events`: the same clips as event streams (:mod:`.event_sim`, the video-to-event
  model also used by ``tools/data/video_to_events.py``), ``.npz`` files with annotation lists;
* :mod:`.pose_clips`: 3D human pose video in the on-disk layout of MMHPSD;
* :mod:`.seg_clips`: video semantic segmentation in the on-disk layout of VSPW.

:func:`prepare_embedded_dataset` writes the one a config names in ``embedded_dataset``.
"""
import os
import os.path as osp
import time

GENERATORS = ('motion_clips', 'motion_events', 'pose_clips', 'seg_clips')
#: the line the clip datasets add to their "data_root is missing" errors
MAKE_DEMO_DATASET_HINT = ('a demo config\'s embedded dataset is written by `python '
                          'tools/make_demo_dataset.py CONFIG` (or `mim run mmspike '
                          'make_demo_dataset CONFIG`)')


def prepare_embedded_dataset(cfg, timeout_s=600):
    """Generate the embedded dataset a config names in ``embedded_dataset`` (idempotent):
    ``dict(root=..., generator='motion_clips' | 'motion_events' | 'pose_clips' | 'seg_clips',
    **arguments of its write_dataset)``; ``generator`` defaults to ``'motion_clips'``.

    Under a distributed launch only local rank 0 writes.  When the process group is already
    initialised (``tools/train.py`` and ``tools/test.py`` start it first) the other processes
    wait at a collective until it has finished (:func:`mmspike.engine.dist.run_on_local_rank_zero`;
    an error on rank 0 is raised on every process); without one they wait for its
    ``meta.json`` for up to ``timeout_s`` seconds.  Does nothing for configs without
    ``embedded_dataset``.
    """
    spec = cfg.get('embedded_dataset', None)
    if not spec:
        return None
    spec = dict(spec)
    root = spec.pop('root')
    generator = spec.pop('generator', 'motion_clips')
    if generator not in GENERATORS:
        raise ValueError(f'embedded_dataset.generator must be one of {GENERATORS}, got '
                         f'{generator!r}')

    def write():
        import importlib
        module = importlib.import_module(f'{__name__}.{generator}')
        return module.write_dataset(root, **spec)

    from mmengine.dist import is_distributed
    if is_distributed():
        from ...engine.dist import run_on_local_rank_zero
        return run_on_local_rank_zero(write, f'writing the embedded dataset in {root!r}')
    if int(os.environ.get('LOCAL_RANK', '0')) == 0:
        return write()
    deadline = time.time() + timeout_s
    while not osp.isfile(osp.join(root, 'meta.json')):
        if time.time() > deadline:
            raise TimeoutError(f'rank {os.environ.get("LOCAL_RANK")} waited {timeout_s}s for '
                               f'local rank 0 to write the embedded dataset in {root!r}')
        time.sleep(1)
    return None
