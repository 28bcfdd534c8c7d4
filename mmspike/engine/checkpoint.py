"""Safe and atomic checkpoint files for mmengine runners.

Loading (:func:`load_checkpoint_file` for files, :func:`load_checkpoint_bytes` for the bytes a
remote file backend returns; once :func:`mmspike.engine.compat.repair_mmengine_checkpoint_loading`
ran, every scheme of mmengine's ``CheckpointLoader`` ends in one of them):

* ``torch.load(..., weights_only=True)`` with an allowlist of exactly the globals that mmengine,
  MMAction2, MMPose and MMSegmentation runners write into a checkpoint
  (:func:`runner_checkpoint_globals`): the message hub's ``HistoryBuffer`` (and the
  ``getattr(HistoryBuffer, 'min')``-style references to its statistics methods, and nothing else
  through ``getattr``), numpy arrays, scalars and dtypes.  The allowlist is active only for the
  duration of the load (``torch.serialization.safe_globals``); nothing is added for the rest of
  the process.  ``weights_only=True`` is passed explicitly, so torch's
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which turns only an unspecified ``weights_only`` into
  a full pickle) does not disable it.
* A checkpoint whose pickle needs anything else (a class, or a function such as ``os.system``
  that a malicious file would call) is refused before any of it runs, with
  :class:`UnsafeCheckpointError` naming the offending globals.
* A truncated or corrupt file (cut short by an interrupted save or copy, empty, or with
  damaged bytes) raises :class:`CorruptCheckpointError`, which names the file and the damage;
  torch's own errors ("PytorchStreamReader failed reading zip archive: failed finding central
  directory", "[Errno 22] Invalid argument") name neither.  The same holds for trusted loads.
* Opt-out for a trusted legacy file (full pickle, ``weights_only=False``, which can run any code
  the file contains): set the environment variable ``MMSPIKE_TRUST_CHECKPOINTS=1``, or load
  inside ``with mmspike.engine.checkpoint.trusted_checkpoints():``.

Saving (:func:`atomic_save`, mmengine's ``save_checkpoint`` for local paths, see
:func:`mmspike.engine.compat.repair_mmengine_checkpoint_saving`): the checkpoint is written to a
temporary file ``.<name>.<random>.tmp`` in the target directory, flushed and fsync'ed, then
renamed over the target with ``os.replace``, so a process killed during the write leaves the
previous file (and the ``last_checkpoint`` pointer) intact.  The temporary file such a process
leaves is removed by the next save of the same file and, for any name, by
:func:`remove_orphan_temporaries` when a run starts or resumes.
"""
import contextlib
import glob
import io
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Iterator, List, Optional, Union

import torch

TRUST_ENV = 'MMSPIKE_TRUST_CHECKPOINTS'

_trusted_depth = 0


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint the safe load refused: its pickle needs globals outside
    :func:`runner_checkpoint_globals` (named in ``offending``), or it is not a pickle the
    weights-only unpickler can read (``offending`` empty: corrupt, truncated, not a PyTorch
    file, or pickle operations the safe load does not allow)."""

    def __init__(self, message: str, offending: Optional[List[str]] = None):
        super().__init__(message)
        self.offending = list(offending or [])


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that is truncated or corrupt (``filename`` names it): a file cut short by a
    save that was interrupted or a copy that did not finish, an empty file, or damaged bytes.

    torch reports these without the file's name ("PytorchStreamReader failed reading zip
    archive: failed finding central directory", "[Errno 22] Invalid argument", "Ran out of
    input"); this error names the file and what is wrong with it.
    """

    def __init__(self, message: str, filename: str):
        super().__init__(message)
        self.filename = filename


def _numpy_callables() -> List[Union[Callable, tuple]]:
    """numpy's array/scalar reconstructors and the dtype classes, under the module names numpy 1
    (``numpy.core``) and numpy 2 (``numpy._core``) pickle them with."""
    import numpy as np
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    allowed: List[Union[Callable, tuple]] = [np.ndarray, np.dtype]
    for name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, name)
        allowed += [(func, f'numpy.core.multiarray.{name}'),
                    (func, f'numpy._core.multiarray.{name}')]
    # unpickling a dtype BUILDs an instance of its concrete class (numpy.dtypes.Float64DType...)
    codes = '?bBhHiIlLqQefdgFDGSUMm'
    allowed += sorted({type(np.dtype(code)) for code in codes}, key=lambda cls: cls.__name__)
    return allowed


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as a checkpoint may call it: only ``HistoryBuffer.<statistics method>``.

    Python pickles a reference to a method (mmengine's ``HistoryBuffer._statistics_methods``
    holds ``HistoryBuffer.min`` ...) as ``getattr(HistoryBuffer, 'min')``; a general ``getattr``
    would let a pickle reach any attribute of any allowed object.

    Args:
        obj (Any): the object to read from; must be ``HistoryBuffer``.
        name (str): the attribute; must be a registered statistics method.

    Returns:
        Any: the method.
    """
    from mmengine.logging import HistoryBuffer
    allowed = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'current', 'mean'}
    if obj is not HistoryBuffer or name not in allowed:
        raise UnsafeCheckpointError(
            f'refusing getattr({obj!r}, {name!r}) in a checkpoint: only getattr(HistoryBuffer, '
            f'name) with name in {sorted(allowed)} is allowed')
    return getattr(obj, name)


def runner_checkpoint_globals() -> List[Union[Callable, tuple]]:
    """The globals mmengine / OpenMMLab runner checkpoints need beyond torch's defaults.

    Found by saving real runner checkpoints (action, pose, segmentation demo configs, with
    validation and ``save_best``) and listing
    ``torch.serialization.get_unsafe_globals_in_checkpoint``: ``HistoryBuffer``,
    ``builtins.getattr`` (restricted, :func:`history_buffer_getattr`), ``numpy.ndarray``,
    ``numpy.dtype``, numpy's ``_reconstruct`` and ``scalar``; and ``builtins.bytes``, which
    pickles the buffer of an empty numpy array (MMPose's parsed dataset metainfo, saved in the
    checkpoint's ``dataset_meta``, holds some).

    Returns:
        list: entries for ``torch.serialization.safe_globals`` (callables, or
        ``(callable, 'module.name')`` pairs).
    """
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), bytes] + \
        _numpy_callables()


def allowed_global_names() -> List[str]:
    """The dotted names of :func:`runner_checkpoint_globals`."""
    names = []
    for entry in runner_checkpoint_globals():
        if isinstance(entry, tuple):
            names.append(entry[1])
        else:
            names.append(f'{entry.__module__}.{entry.__qualname__}')
    return names


@contextlib.contextmanager
def runner_checkpoint_context() -> Iterator[None]:
    """Allow :func:`runner_checkpoint_globals` in ``torch.load(weights_only=True)`` inside the
    ``with`` block only."""
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        yield


@contextlib.contextmanager
def trusted_checkpoints() -> Iterator[None]:
    """Inside this block mmspike loads local checkpoints as full pickles (``weights_only=False``).

    Only for files you trust: loading a full pickle can run any code the file contains.  The
    environment variable ``MMSPIKE_TRUST_CHECKPOINTS=1`` does the same for a whole process.
    """
    global _trusted_depth
    _trusted_depth += 1
    try:
        yield
    finally:
        _trusted_depth -= 1


def checkpoints_trusted() -> bool:
    """Whether the opt-out is on: inside :func:`trusted_checkpoints` or
    ``MMSPIKE_TRUST_CHECKPOINTS`` set to ``1`` / ``true`` / ``yes``."""
    env = os.environ.get(TRUST_ENV, '').strip().lower()
    return _trusted_depth > 0 or env in ('1', 'true', 'yes')


#: what a checkpoint to load is: a path, or its bytes (read from a remote file backend)
CheckpointSource = Union[str, bytes]


def _stream(source: CheckpointSource) -> Union[str, io.BytesIO]:
    """What ``torch.load`` reads: the path itself, or a fresh buffer over the bytes."""
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _size(source: CheckpointSource) -> Optional[int]:
    if isinstance(source, bytes):
        return len(source)
    try:
        return osp.getsize(source)
    except OSError:
        return None


def checkpoint_damage(source: CheckpointSource) -> Optional[str]:
    """Why ``source`` is not a whole PyTorch checkpoint, or None when its structure is intact
    (or cannot be checked: not a zip archive, unreadable).

    A PyTorch checkpoint (torch >= 1.6) is a zip archive, whose central directory is at the end
    of the file: a file cut short has none.  The members' CRCs are checked too.  Reads the whole
    file, so it is only called after a load failed.

    Args:
        source (str | bytes): the checkpoint's path, or its bytes.

    Returns:
        str | None: the problem, in words, or None.
    """
    size = _size(source)
    if size == 0:
        return 'the file is empty (0 bytes)'
    try:
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(
                io.BytesIO(source) if isinstance(source, bytes) else open(source, 'rb'))
            if f.read(4) != b'PK\x03\x04':  # not the zip format: torch's error decides
                return None
            f.seek(0)
            try:
                with zipfile.ZipFile(f) as archive:
                    broken = archive.testzip()
            except zipfile.BadZipFile:
                return (f'the file ({size} bytes) starts as a zip archive, the format of PyTorch '
                        f'checkpoints, but its end (the central directory) is missing or '
                        f'damaged: it was cut short, e.g. by a save or a copy that did not '
                        f'finish')
            except Exception as error:  # any other failure to read the archive is damage too
                return f'the file ({size} bytes) is a damaged zip archive ({error})'
            if broken is not None:
                return (f'the file ({size} bytes) is a zip archive whose member {broken!r} '
                        f'fails its CRC check: its bytes were changed')
    except OSError:
        return None
    return None


def _reported_damage(error: BaseException) -> Optional[str]:
    """The damage torch's own error describes (for files in the legacy, non-zip format)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    if isinstance(error, EOFError):
        return f'the data ends early ({text or "EOFError"})'
    if isinstance(error, (RuntimeError, pickle.UnpicklingError)) and any(
            word in text for word in ('PytorchStreamReader', 'unexpected EOF', 'corrupted',
                                      'truncated')):
        return f'torch could not read it ({text})'
    return None


def corrupt_checkpoint_message(name: str, damage: str, error: BaseException) -> str:
    """The error for a checkpoint that is truncated or corrupt.

    Args:
        name (str): the checkpoint's path or URL.
        damage (str): what is wrong with it (:func:`checkpoint_damage`).
        error (BaseException): torch's error.

    Returns:
        str: the message.
    """
    lines = str(error).strip().splitlines()
    reason = type(error).__name__ + (f': {lines[0]}' if lines else '')
    return (f'checkpoint {name!r} is truncated or corrupt: {damage}. It cannot be loaded; '
            f'replace it with an intact copy. (torch: {reason})')


def _offending_globals(source: CheckpointSource, error: Exception) -> List[str]:
    allowed = set(allowed_global_names())
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(_stream(source))
    except Exception:  # legacy (non-zip) files: fall back to torch's message
        found = []
    names = sorted(name for name in found if name not in allowed)
    if not names:
        names = sorted(set(re.findall(r'GLOBAL ([\w.]+)', str(error))))
    return names


def unsafe_checkpoint_message(filename: str, error: Exception,
                              source: Optional[CheckpointSource] = None) -> str:
    """The error for a checkpoint refused by the weights-only load.

    Args:
        filename (str): the checkpoint's path or URL, as the message names it.
        error (Exception): torch's error.
        source (str | bytes, optional): what was loaded, when not the file ``filename``: its
            bytes.  Defaults to None.

    Returns:
        str: the message.
    """
    names = _offending_globals(filename if source is None else source, error)
    if names:
        what = (f'its pickle needs {", ".join(repr(n) for n in names)}, which '
                f'{"is" if len(names) == 1 else "are"} not allowed')
    else:
        what = ('the weights-only unpickler cannot read it: the file is corrupt, truncated or '
                'not a PyTorch checkpoint, or its pickle uses operations that are not allowed')
    # torch's own reason is one line among its generic advice
    reasons = [line.strip().replace('WeightsUnpickler error: ', '')
               for line in str(error).splitlines()
               if any(word in line for word in ('GLOBAL', 'refusing', 'reduce', 'Can only',
                                                'Unsupported'))]
    detail = f' (torch: {reasons[0]})' if reasons else ''
    return (f'refusing to load checkpoint {filename!r}: {what} in mmspike\'s safe load '
            f'(weights_only=True with the '
            f'types mmengine/OpenMMLab runners save, mmspike.engine.checkpoint.'
            f'runner_checkpoint_globals){detail}. Nothing in the file was run. If you trust this '
            f'file, load it with the environment variable {TRUST_ENV}=1 or inside `with '
            f'mmspike.engine.checkpoint.trusted_checkpoints():` (weights_only=False: the file can '
            f'run any code).')


def _load(source: CheckpointSource, name: str,
          map_location: Optional[Union[str, Callable, torch.device]],
          trusted: Optional[bool]) -> Any:
    """The load behind :func:`load_checkpoint_file` and :func:`load_checkpoint_bytes`."""
    if trusted is None:
        trusted = checkpoints_trusted()
    try:
        if trusted:
            return torch.load(_stream(source), map_location=map_location, weights_only=False)
        # weights_only passed explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot turn it off
        with runner_checkpoint_context():
            return torch.load(_stream(source), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        damage = checkpoint_damage(source) or _reported_damage(error)
        if damage is not None:
            raise CorruptCheckpointError(corrupt_checkpoint_message(name, damage, error),
                                         name) from error
        if trusted:
            raise
        raise UnsafeCheckpointError(
            unsafe_checkpoint_message(name, error, source),
            _offending_globals(source, error)) from error
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        damage = checkpoint_damage(source) or _reported_damage(error)
        if damage is None:
            raise
        raise CorruptCheckpointError(corrupt_checkpoint_message(name, damage, error),
                                     name) from error


def load_checkpoint_file(filename: str,
                         map_location: Optional[Union[str, Callable, torch.device]] = None,
                         trusted: Optional[bool] = None) -> Any:
    """Load a local checkpoint safely (see the module docstring).

    Args:
        filename (str): path of the checkpoint (``~`` expanded).
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.
        trusted (bool, optional): True: full pickle (``weights_only=False``); False: safe load;
            None: safe unless :func:`checkpoints_trusted`.  Defaults to None.

    Returns:
        Any: the loaded object.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        UnsafeCheckpointError: the pickle needs a global outside the allowlist.
        CorruptCheckpointError: the file is truncated or corrupt (the message names it).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    return _load(filename, filename, map_location, trusted)


def load_checkpoint_bytes(data: bytes, name: str,
                          map_location: Optional[Union[str, Callable, torch.device]] = None,
                          trusted: Optional[bool] = None) -> Any:
    """Load a checkpoint from its bytes (as a remote file backend's ``get`` returns them)
    with the same safety as :func:`load_checkpoint_file`.

    Args:
        data (bytes): the checkpoint file's content.
        name (str): where it came from (a URL such as ``s3://bucket/epoch_1.pth``), for the
            error messages.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.
        trusted (bool, optional): as for :func:`load_checkpoint_file`.  Defaults to None.

    Returns:
        Any: the loaded object.

    Raises:
        UnsafeCheckpointError: the pickle needs a global outside the allowlist.
        CorruptCheckpointError: the data is truncated or corrupt (the message names ``name``).
    """
    return _load(bytes(data), name, map_location, trusted)


def _write_checkpoint(checkpoint: Any, f: io.BufferedWriter) -> None:
    """Serialise ``checkpoint`` into the open temporary file (a seam the tests slow down)."""
    torch.save(checkpoint, f)


def temporary_name_pattern(filename: str) -> str:
    """The glob of :func:`atomic_save`'s temporary files for ``filename``."""
    return osp.join(glob.escape(osp.dirname(filename)),
                    f'.{glob.escape(osp.basename(filename))}.*.tmp')


def _fsync_directory(dirname: str) -> None:
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(filename: str, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write a file all-or-nothing: ``write(f)`` into a temporary file next to ``filename``,
    flush and fsync it, then ``os.replace`` it onto ``filename`` (and fsync the directory).

    Temporary files a killed process left for the same ``filename`` are removed first.

    Args:
        filename (str): the target path.
        write (callable): writes the content into the binary file object it is given.
    """
    filename = osp.abspath(osp.expanduser(filename))
    dirname = osp.dirname(filename)
    os.makedirs(dirname, exist_ok=True)
    for stale in glob.glob(temporary_name_pattern(filename)):
        with contextlib.suppress(OSError):
            os.remove(stale)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filename)}.', suffix='.tmp',
                               dir=dirname)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; keep the mode open() would give
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(dirname)


def atomic_save(checkpoint: Any, filename: str) -> None:
    """``torch.save(checkpoint, filename)`` through :func:`atomic_write`."""
    atomic_write(filename, lambda f: _write_checkpoint(checkpoint, f))


def atomic_write_text(filename: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``filename`` through :func:`atomic_write`."""
    atomic_write(filename, lambda f: f.write(text.encode('utf-8')))


#: the temporary files :func:`atomic_write` makes for checkpoints and the ``last_checkpoint``
#: pointer (``.<name>.<random>.tmp``); a process killed during a save leaves one behind
ORPHAN_TEMPORARY_PATTERNS = ('.*.pth.*.tmp', '.last_checkpoint.*.tmp')


def remove_orphan_temporaries(dirname: str) -> List[str]:
    """Remove the temporary files that saves killed half-way left in ``dirname``.

    Only names matching :data:`ORPHAN_TEMPORARY_PATTERNS` are touched.  Call it where no save
    of this run is in progress (``CheckpointHook.before_train`` on the main process): a
    temporary file there belongs to a process that no longer writes it.

    Args:
        dirname (str): the folder (a run's checkpoint folder or work dir).

    Returns:
        list[str]: the paths removed.
    """
    removed = []
    for pattern in ORPHAN_TEMPORARY_PATTERNS:
        for path in sorted(glob.glob(osp.join(glob.escape(dirname), pattern))):
            if osp.isfile(path) and not osp.islink(path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                    removed.append(path)
    return removed
