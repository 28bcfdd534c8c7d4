"""Writing a generated dataset so that a reader never sees half of it.

Every generator writes through :func:`write_generated_dataset`: a dataset whose ``meta.json``
equals the requested meta data and whose files are all there is reused; otherwise the whole
dataset is built in ``<root>.tmp-<pid>`` (:func:`staged_directory`), ``meta.json`` last, and
swapped in only when complete.  A directory that the generator did not write is never replaced.
"""
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable


def read_meta(root: Path):
    """``root/meta.json`` as a dict, or None if it is missing or unreadable."""
    try:
        return json.loads((Path(root) / 'meta.json').read_text())
    except (OSError, ValueError):
        return None


def frames_written(root: Path, sequences: Iterable[str], num_frames: int,
                   *paths: Callable[[Path, str, int], Path]) -> bool:
    """Whether each of the files ``path(root, sequence, frame)`` of every ``path`` of
    ``paths`` (frame image, pose, mask, ...) exists for frames ``0 .. num_frames - 1`` of every
    sequence."""
    return all(path(root, sequence, frame).is_file() for sequence in sequences
               for frame in range(num_frames) for path in paths)


def check_replaceable(root: Path, generator: str, label: str) -> None:
    """Refuse to delete ``root`` unless it is absent, empty, or written by ``generator``
    (``meta.json`` names it); ``label`` names the dataset in the error."""
    root = Path(root)
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f'{root} exists and is not a directory')
    meta = read_meta(root)
    ours = isinstance(meta, dict) and meta.get('generator') == generator
    if not ours and any(root.iterdir()):
        raise FileExistsError(f'{root} is not empty and has no {label} meta.json; '
                              f'refusing to replace it')


def swap_into_place(staging: Path, root: Path) -> None:
    """Rename the finished ``staging`` to ``root``.  A non-empty directory cannot be renamed
    over another, so the old one steps aside first; ``root`` is at all times either the old
    complete dataset, absent, or the new complete one."""
    if not root.exists():
        os.rename(staging, root)
        return
    retired = root.with_name(f'{root.name}.old-{os.getpid()}')
    shutil.rmtree(retired, ignore_errors=True)
    os.rename(root, retired)
    try:
        os.rename(staging, root)
    except OSError:
        os.rename(retired, root)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def staged_directory(root: Path, generator: str, label: str):
    """Yield an empty staging directory beside ``root``; on success it replaces ``root``, on
    error it is removed and ``root`` is left as it was."""
    root = Path(root)
    check_replaceable(root, generator, label)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.with_name(f'{root.name}.tmp-{os.getpid()}')
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        yield staging
        swap_into_place(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_generated_dataset(root, meta: dict, name: str, is_complete: Callable[[Path], bool],
                            write_files: Callable[[Path], str]) -> dict:
    """Write a generated dataset under ``root`` unless it is there already; return ``meta``.

    Args:
        root (str | Path): the dataset directory.
        meta (dict): the meta data of the requested dataset, written as ``meta.json``; its
            ``generator`` names the generator (a ``root`` whose ``meta.json`` names another
            one is not replaced).
        name (str): the generator's short name (``'motion_clips'``), for the log lines and
            errors.
        is_complete (Callable[[Path], bool]): whether every file of the dataset is in the
            directory it is given; asked only when ``root/meta.json`` equals ``meta``.
        write_files (Callable[[Path], str]): writes every file but ``meta.json`` into the
            (empty) staging directory it is given and returns what it wrote, in words
            (``'64 clips'``), for the log line.
    """
    root = Path(root)
    if read_meta(root) == meta and is_complete(root):
        print(f'[{name}] reusing {root} (meta.json matches)', flush=True)
        return meta
    started = time.perf_counter()
    with staged_directory(root, meta['generator'], name.replace('_', '-')) as staging:
        written = write_files(staging)
        (staging / 'meta.json').write_text(json.dumps(meta, indent=2) + '\n')
    print(f'[{name}] wrote {written} to {root} in {time.perf_counter() - started:.1f} s',
          flush=True)
    return meta
