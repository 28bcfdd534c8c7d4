"""Writing a generated dataset so that a reader never sees half of it.

A generator builds the whole dataset in ``<root>.tmp-<pid>`` (:func:`staged_directory`) and
swaps it in only when complete; a directory that the generator did not write is never replaced.
"""
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def read_meta(root: Path):
    """``root/meta.json`` as a dict, or None if it is missing or unreadable."""
    try:
        return json.loads((Path(root) / 'meta.json').read_text())
    except (OSError, ValueError):
        return None


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
