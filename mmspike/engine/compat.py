"""Repairs for upstream bugs in the OpenMMLab releases mmspike supports - the one place they live.

Nothing here runs at ``import mmspike``.  :func:`apply` applies every repair whose
:class:`Repair.needed` gate holds for the installed versions (each gate names the versions that
have the bug); the task adapters (``mmspike.action``, ``.pose``, ``.seg``) and mmspike's tools
call it, so the stock tools of each codebase get the repairs through the config's
``custom_imports``.  Each repair is idempotent.

Runner repairs (mmengine):

* :func:`repair_mmengine_checkpoint_loading` (torch >= 2.6 with mmengine <= 0.10.7) - mmengine
  calls ``torch.load(file)``; since torch 2.6 that means ``weights_only=True`` and a Runner
  checkpoint (which pickles the message hub's ``HistoryBuffer``, numpy arrays, ...) fails to
  resume with ``UnpicklingError: Weights only load failed``.  Upstream: open-mmlab/mmengine#1655.
  Every scheme of mmengine's ``CheckpointLoader`` (local paths, ``http(s)://``,
  ``open-mmlab://`` / ``openmmlab://``, ``torchvision://`` / ``modelzoo://``, ``mmcls://``,
  ``pavi://``, ``s3://`` / ``petrel://``) gets a loader that resolves the path as mmengine does
  and loads through :func:`mmspike.engine.checkpoint.load_checkpoint_file` (or
  ``load_checkpoint_bytes`` for the bytes of ``s3://``-style backends): ``weights_only=True``
  with exactly the globals runners write, anything else refused, whatever
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says (mmengine's bare ``torch.load`` of a local
  ``open-mmlab://`` file, a ``pavi://`` download or ``s3://`` bytes obeys it and would run the
  file's pickle); opt-out for trusted legacy files: ``MMSPIKE_TRUST_CHECKPOINTS=1``.
* :func:`repair_mmengine_checkpoint_saving` (mmengine <= 0.10.7) - checkpoints and the
  ``last_checkpoint`` pointer are written in place, and the oldest checkpoint and the previous
  best checkpoint are deleted before the new one is written, so a process killed during a save
  leaves a truncated file, or no best checkpoint at all.  Local writes become atomic (temporary
  file, fsync, ``os.replace``), old and previous-best checkpoints are removed only after the new
  one (and the pointer) are on disk, and the temporary files of killed saves are removed when a
  run starts or resumes.  No upstream issue found.
* :func:`repair_mmengine_package_config_paths` (mmengine <= 0.10.7) - ``pkg::`` resolves only
  for the OpenMMLab packages listed in mmengine's ``MODULE2PACKAGE`` ("mmengine does not support
  to load mmspike config") and only as ``pkg::folder/cfg.py`` (a regex demands a folder), so
  configs at the top of a package's ``.mim/configs`` cannot be inherited as
  ``_base_ = 'mmspike::svformer_demo.py'``; and the configs of an editable install (PEP 660
  import hook) are looked for in ``site-packages``.
* :func:`repair_mmengine_cpu_distributed` (mmengine <= 0.10.7, no CUDA) - the ``pytorch``
  launcher calls ``torch.cuda.set_device`` whatever the backend, the DDP wrapper passes
  ``device_ids`` and ``sync_bn`` uses torch's GPU-only SyncBatchNorm, so torchrun training fails
  on a CPU machine.  Without CUDA, ``nccl`` becomes ``gloo`` and SyncBN is
  :mod:`mmspike.engine.dist`'s.

Codebase repairs:

* :func:`repair_mmaction_bf16_scores` (mmaction2 <= 1.2.0, applied for ``--amp``) - the heads
  turn bfloat16 scores into NumPy arrays ("Got unsupported ScalarType BFloat16").
* :func:`provide_mmaction_drn_placeholder` (the mmaction2 1.2.0 wheel, applied by
  ``mmspike.action`` before it imports ``mmaction.models``) - the wheel lacks the package
  ``mmaction/models/localizers/drn`` that ``localizers/__init__.py`` imports, so
  ``import mmaction.models`` fails with ``No module named 'mmaction.models.localizers.drn'``
  (open-mmlab/mmaction2#2714).  An in-memory placeholder module is put in ``sys.modules``
  (nothing is written into the installed package); building ``DRN`` raises a clear error.

Other install traps (setuptools<81 for ``pkg_resources``, C++20 for mmcv's ops, chumpy without
build isolation, xtcocotools rebuilt for numpy 2) are handled in ``tools/setup_env.sh``.
"""
import importlib.util
import logging
import os
import os.path as osp
import sys
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Union

from .versions import installed_version, version_tuple

if TYPE_CHECKING:
    import torch

#: what ``torch.load``'s ``map_location`` accepts
MapLocation = Union[str, Callable, 'torch.device']


def _installed(dist):
    version = installed_version(dist)
    return None if version is None else version_tuple(version)


def _mmengine_at_most(last_with_bug):
    version = _installed('mmengine')
    return version is not None and version <= last_with_bug


def mmengine_needs_weights_only_repair():
    """torch >= 2.6 loads with ``weights_only=True`` by default; mmengine <= 0.10.7 does not
    pass the globals its checkpoints hold (open-mmlab/mmengine#1655)."""
    torch_version = _installed('torch')
    return (torch_version is not None and torch_version >= (2, 6)
            and _mmengine_at_most((0, 10, 7)))


def mmengine_needs_atomic_saving():
    return _mmengine_at_most((0, 10, 7))


def mmengine_needs_config_path_repair():
    return _mmengine_at_most((0, 10, 7))


def mmengine_needs_cpu_distributed_repair():
    import torch
    return _mmengine_at_most((0, 10, 7)) and not torch.cuda.is_available()


def mmaction_needs_bf16_repair():
    version = _installed('mmaction2')
    return version is not None and version <= (1, 2, 0)


def patch_once(owner, name, make):
    """Replace ``owner.<name>`` by ``make(original)`` unless mmspike already did: the
    replacement keeps the original as ``__wrapped_by_mmspike__``, so the repairs are idempotent
    and never wrap their own wrappers.  Returns the function now in place."""
    current = getattr(owner, name)
    if getattr(current, '__wrapped_by_mmspike__', None) is not None:
        return current
    replacement = make(current)
    replacement.__wrapped_by_mmspike__ = current
    setattr(owner, name, replacement)
    return replacement


def load_from_local_safe(filename: str, map_location: Optional[MapLocation] = None) -> Any:
    """mmengine's loader for local paths: :func:`mmspike.engine.checkpoint.load_checkpoint_file`
    (``weights_only=True`` with the runner allowlist; ``MMSPIKE_TRUST_CHECKPOINTS=1`` opts out).

    Args:
        filename (str): the checkpoint's path.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.

    Returns:
        Any: the loaded checkpoint.
    """
    from .checkpoint import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


def load_url_checkpoint_safe(url: str, model_dir: Optional[str] = None,
                             map_location: Optional[MapLocation] = None, progress: bool = True,
                             check_hash: bool = False, file_name: Optional[str] = None) -> Any:
    """Replacement of ``load_url`` in mmengine's http loader: download into torch hub's cache as
    before, then load the file with :func:`mmspike.engine.checkpoint.load_checkpoint_file`
    instead of a full pickle.

    Args:
        url (str): the checkpoint's URL.
        model_dir (str, optional): the download folder. Defaults to None: torch hub's
            ``checkpoints`` folder.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.
        progress (bool): show a progress bar. Defaults to True.
        check_hash (bool): check the hash prefix in the file name (``name-<sha256>.pth``).
            Defaults to False.
        file_name (str, optional): the cached file's name. Defaults to None: the URL's.

    Returns:
        Any: the loaded checkpoint.
    """
    import re
    from urllib.parse import urlparse

    import torch.hub
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    name = file_name or osp.basename(urlparse(url).path)
    cached = osp.join(model_dir, name)
    if not osp.exists(cached):
        match = re.search(r'-([a-f0-9]*)\.', name) if check_hash else None
        torch.hub.download_url_to_file(url, cached, match.group(1) if match else None,
                                       progress=progress)
    return load_from_local_safe(cached, map_location=map_location)


def load_from_http_safe(filename: str, map_location: Optional[MapLocation] = None,
                        model_dir: Optional[str] = None, progress: Optional[bool] = None) -> Any:
    """mmengine's loader for ``http://`` / ``https://``: the main process downloads first (the
    others wait at a barrier, then load the cached file), each loads it through
    :func:`load_url_checkpoint_safe`.

    Args:
        filename (str): the URL.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.
        model_dir (str, optional): the download folder. Defaults to None (torch hub's).
        progress (bool, optional): show a progress bar. Defaults to None: when stdin is a
            terminal, as mmengine does.

    Returns:
        Any: the loaded checkpoint.
    """
    import torch
    from mmengine.dist import get_dist_info
    if progress is None:
        progress = os.isatty(0)
    rank, world_size = get_dist_info()
    checkpoint = None
    if rank == 0:
        checkpoint = load_url_checkpoint_safe(filename, model_dir=model_dir,
                                              map_location=map_location, progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = load_url_checkpoint_safe(filename, model_dir=model_dir,
                                                  map_location=map_location, progress=progress)
    return checkpoint


def load_from_pavi_safe(filename: str, map_location: Optional[MapLocation] = None) -> Any:
    """mmengine's loader for ``pavi://``: download the model from pavi's model cloud into a
    temporary folder, then load it with :func:`load_from_local_safe`.

    Args:
        filename (str): ``pavi://<model path>``.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.

    Returns:
        Any: the loaded checkpoint.
    """
    import tempfile
    if not filename.startswith('pavi://'):
        raise ValueError(f'expected a checkpoint path starting with pavi://, got {filename!r}')
    try:
        from pavi import modelcloud
    except ImportError as error:
        raise ImportError(f'loading {filename!r} needs the pavi package (pip install pavi)') \
            from error
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return load_from_local_safe(downloaded, map_location=map_location)


def load_from_ceph_safe(filename: str, map_location: Optional[MapLocation] = None,
                        backend: str = 'petrel') -> Any:
    """mmengine's loader for ``s3://`` and ``petrel://`` (also ``<cluster>:s3://``): read the
    bytes with mmengine's file backend, then load them with
    :func:`mmspike.engine.checkpoint.load_checkpoint_bytes`.

    Args:
        filename (str): the checkpoint's URI.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.
        backend (str): mmengine's file backend. Defaults to ``'petrel'``, as mmengine's.

    Returns:
        Any: the loaded checkpoint.
    """
    from mmengine.fileio import get_file_backend

    from .checkpoint import load_checkpoint_bytes
    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    return load_checkpoint_bytes(data, filename, map_location=map_location)


def _model_url(filename: str, name: str, urls: Dict[str, str], where: str) -> str:
    if name not in urls:
        raise KeyError(f'cannot load checkpoint {filename!r}: no model named {name!r} in '
                       f'{where}')
    return urls[name]


def load_from_torchvision_safe(filename: str, map_location: Optional[MapLocation] = None) -> Any:
    """mmengine's loader for ``torchvision://`` (and the deprecated ``modelzoo://``): mmengine's
    ``get_torchvision_models()`` gives the URL, :func:`load_from_http_safe` loads it.

    Args:
        filename (str): ``torchvision://<name>``.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.

    Returns:
        Any: the loaded checkpoint.
    """
    import mmengine.runner.checkpoint as checkpoint_module
    if filename.startswith('modelzoo://'):
        from mmengine.logging import print_log
        print_log('The URL scheme of "modelzoo://" is deprecated, please use "torchvision://" '
                  'instead', logger='current', level=logging.WARNING)
        name = filename[len('modelzoo://'):]
    else:
        name = filename[len('torchvision://'):]
    url = _model_url(filename, name, checkpoint_module.get_torchvision_models(),
                     "torchvision's model URLs (mmengine.runner.checkpoint."
                     'get_torchvision_models)')
    return load_from_http_safe(url, map_location=map_location)


def resolve_openmmlab_checkpoint(filename: str) -> str:
    """Where mmengine finds ``open-mmlab://NAME`` / ``openmmlab://NAME``: the URL or local path
    that mmengine's ``get_external_models()`` (its ``hub/openmmlab.json`` updated by
    ``$MMENGINE_HOME/open_mmlab.json``) maps ``NAME`` to, after its deprecated-name table;
    relative paths are taken from the mmengine home folder, as mmengine does.

    Args:
        filename (str): the ``open-mmlab://`` / ``openmmlab://`` path.

    Returns:
        str: an ``http(s)://`` URL or a local path.
    """
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.logging import print_log
    prefix = 'open-mmlab://' if filename.startswith('open-mmlab://') else 'openmmlab://'
    name = filename[len(prefix):]
    deprecated = checkpoint_module.get_deprecated_model_names()
    if name in deprecated:
        print_log(f'{prefix}{name} is deprecated in favor of {prefix}{deprecated[name]}',
                  logger='current', level=logging.WARNING)
        name = deprecated[name]
    home = checkpoint_module._get_mmengine_home()
    url = _model_url(filename, name, checkpoint_module.get_external_models(),
                     f"mmengine's hub/openmmlab.json or {osp.join(home, 'open_mmlab.json')}")
    if url.startswith(('http://', 'https://')):
        return url
    return osp.join(home, url)


def load_from_openmmlab_safe(filename: str, map_location: Optional[MapLocation] = None) -> Any:
    """mmengine's loader for ``open-mmlab://`` / ``openmmlab://``: the URL or local file of
    :func:`resolve_openmmlab_checkpoint`, loaded by :func:`load_from_http_safe` or
    :func:`load_from_local_safe` (mmengine loads a local one with a bare ``torch.load``).

    Args:
        filename (str): the ``open-mmlab://`` / ``openmmlab://`` path.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.

    Returns:
        Any: the loaded checkpoint.
    """
    target = resolve_openmmlab_checkpoint(filename)
    if target.startswith(('http://', 'https://')):
        return load_from_http_safe(target, map_location=map_location)
    if not osp.isfile(target):
        raise FileNotFoundError(f'checkpoint {filename!r}: its file {target!r} does not exist')
    return load_from_local_safe(target, map_location=map_location)


def load_from_mmcls_safe(filename: str, map_location: Optional[MapLocation] = None) -> Any:
    """mmengine's loader for ``mmcls://``: mmengine's ``get_mmcls_models()`` gives the URL,
    :func:`load_from_http_safe` loads it, and mmengine's ``_process_mmcls_checkpoint`` keeps the
    backbone's weights (without the ``backbone.`` prefix).

    Args:
        filename (str): ``mmcls://<name>``.
        map_location (str | callable | torch.device, optional): as for ``torch.load``.
            Defaults to None.

    Returns:
        dict: ``{'state_dict': backbone weights}``.
    """
    import mmengine.runner.checkpoint as checkpoint_module
    url = _model_url(filename, filename[len('mmcls://'):], checkpoint_module.get_mmcls_models(),
                     "mmengine's hub/mmcls.json")
    checkpoint = load_from_http_safe(url, map_location=map_location)
    return checkpoint_module._process_mmcls_checkpoint(checkpoint)


#: mmspike's loader for each scheme prefix of mmengine's ``CheckpointLoader`` (mmengine
#: 0.10.7 registers exactly these); every one ends in
#: :func:`mmspike.engine.checkpoint.load_checkpoint_file` or ``load_checkpoint_bytes``
SAFE_SCHEME_LOADERS: Dict[str, Callable[..., Any]] = {
    '': load_from_local_safe,
    'http://': load_from_http_safe,
    'https://': load_from_http_safe,
    'pavi://': load_from_pavi_safe,
    r'(\S+\:)?s3://': load_from_ceph_safe,
    r'(\S+\:)?petrel://': load_from_ceph_safe,
    'modelzoo://': load_from_torchvision_safe,
    'torchvision://': load_from_torchvision_safe,
    'open-mmlab://': load_from_openmmlab_safe,
    'openmmlab://': load_from_openmmlab_safe,
    'mmcls://': load_from_mmcls_safe,
}


def repair_mmengine_checkpoint_loading() -> bool:
    """Register mmspike's safe loader for every scheme of mmengine's ``CheckpointLoader``
    (:data:`SAFE_SCHEME_LOADERS`: local paths, ``http(s)://``, ``open-mmlab://``,
    ``openmmlab://``, ``torchvision://``, ``modelzoo://``, ``mmcls://``, ``pavi://``, ``s3://``,
    ``petrel://``) and :func:`load_url_checkpoint_safe` as the ``load_url`` of mmengine's own
    http loader, for code that calls it directly (idempotent).

    mmengine's paths are resolved as mmengine resolves them (its model tables and home folder);
    only the final load changes: every one is ``weights_only=True`` with the runner allowlist,
    whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says (mmengine's bare ``torch.load`` of a local
    ``open-mmlab://`` file, a ``pavi://`` download or ``s3://`` bytes obeys it and runs the
    file's pickle); ``MMSPIKE_TRUST_CHECKPOINTS=1`` opts out.

    Returns:
        bool: True.
    """
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefix, loader in SAFE_SCHEME_LOADERS.items():
        if CheckpointLoader._schemes.get(prefix) is not loader:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=loader, force=True)
    checkpoint_module.load_url = load_url_checkpoint_safe
    return True


def is_local_path(filename, file_client_args=None, backend_args=None):
    """Whether mmengine would write ``filename`` with its local file backend."""
    if file_client_args is not None or str(filename).startswith('pavi://'):
        return False
    from mmengine.fileio import LocalBackend, get_file_backend
    return isinstance(get_file_backend(str(filename), backend_args=backend_args), LocalBackend)


class _DeferredRemovals:
    """A file backend stand-in that records ``remove`` / ``rmtree`` instead of running them."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def remove(self, path):
        self.pending.append(('remove', path))

    def rmtree(self, path):
        self.pending.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self._backend, name)


def _open_atomic_pointer(file, mode='r', *args, **kwargs):
    """``open`` as mmengine's checkpoint_hook module sees it: writing ``last_checkpoint`` goes
    through a temporary file and ``os.replace``; every other call is the builtin."""
    import builtins
    import io
    if mode != 'w' or osp.basename(str(file)) != 'last_checkpoint':
        return builtins.open(file, mode, *args, **kwargs)

    class PointerWriter(io.StringIO):
        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                from .checkpoint import atomic_write_text
                atomic_write_text(str(file), self.getvalue())
            return super().__exit__(exc_type, exc, tb)

    return PointerWriter()


def repair_mmengine_checkpoint_saving() -> bool:
    """Make mmengine's local checkpoint writes atomic (idempotent), see the module docstring.

    * ``save_checkpoint`` (in ``mmengine.runner``, ``.runner.runner``, ``.runner.checkpoint``):
      local paths through :func:`mmspike.engine.checkpoint.atomic_save`, other backends unchanged;
    * ``CheckpointHook._save_checkpoint_with_step``: the ``last_checkpoint`` pointer is written
      atomically and the checkpoints beyond ``max_keep_ckpts`` are deleted after the new
      checkpoint and the pointer are on disk, not before;
    * ``CheckpointHook._save_best_checkpoint``: the previous ``best_*.pth`` is deleted after the
      new one is on disk (mmengine deletes it first, through ``file_backend.remove`` /
      ``rmtree``), never when its path is the new best's;
    * ``CheckpointHook.before_train`` (a run's start and its resume): on the main process, the
      temporary files that killed saves left in the local checkpoint folder and the work dir
      (:func:`mmspike.engine.checkpoint.remove_orphan_temporaries`) are removed.

    Returns:
        bool: True.
    """
    import mmengine.hooks.checkpoint_hook as hook_module
    import mmengine.runner as runner_package
    import mmengine.runner.checkpoint as checkpoint_module
    import mmengine.runner.runner as runner_module

    def atomic_local_save(save):
        def save_checkpoint(checkpoint, filename, file_client_args=None, backend_args=None):
            if is_local_path(filename, file_client_args, backend_args):
                from .checkpoint import atomic_save
                atomic_save(checkpoint, str(filename))
            else:
                save(checkpoint, filename, file_client_args=file_client_args,
                     backend_args=backend_args)
        return save_checkpoint

    save_checkpoint = patch_once(checkpoint_module, 'save_checkpoint', atomic_local_save)
    for module in (runner_module, runner_package):  # they imported the original by name
        module.save_checkpoint = save_checkpoint

    hook_module.open = _open_atomic_pointer

    def removals_after_save(save_with_step):
        def save_checkpoint_with_step(self, runner, step, meta):
            backend = self.file_backend
            deferred = _DeferredRemovals(backend)
            self.file_backend = deferred
            try:
                save_with_step(self, runner, step, meta)
            finally:
                self.file_backend = backend
            for action, path in deferred.pending:
                getattr(backend, action)(path)
        return save_checkpoint_with_step

    patch_once(hook_module.CheckpointHook, '_save_checkpoint_with_step', removals_after_save)

    def best_removal_after_save(save_best):
        def save_best_checkpoint(self, runner, metrics):
            backend = getattr(self, 'file_backend', None)
            if backend is None:  # before_train has not run: nothing to remove
                return save_best(self, runner, metrics)
            deferred = _DeferredRemovals(backend)
            self.file_backend = deferred
            try:
                save_best(self, runner, metrics)
            finally:
                self.file_backend = backend
            kept = _best_checkpoint_paths(self)
            for action, path in deferred.pending:
                if path not in kept:
                    getattr(backend, action)(path)
        return save_best_checkpoint

    patch_once(hook_module.CheckpointHook, '_save_best_checkpoint', best_removal_after_save)

    def orphans_removed_first(before_train):
        def before_train_hook(self, runner):
            before_train(self, runner)
            from mmengine.dist import is_main_process
            if not is_main_process():
                return
            from .checkpoint import remove_orphan_temporaries
            folders = [runner.work_dir]
            if is_local_path(self.out_dir, self.file_client_args, self.backend_args):
                folders.insert(0, str(self.out_dir))
            removed = []
            for folder in dict.fromkeys(osp.abspath(f) for f in folders):
                removed += remove_orphan_temporaries(folder)
            if removed:
                runner.logger.info(f'Removed {len(removed)} temporary file(s) that a save '
                                   f'interrupted earlier left behind: {", ".join(removed)}')
        return before_train_hook

    patch_once(hook_module.CheckpointHook, 'before_train', orphans_removed_first)
    return True


def _best_checkpoint_paths(hook: Any) -> set:
    """The best-checkpoint paths a ``CheckpointHook`` holds now (one key indicator or several)."""
    paths = {getattr(hook, 'best_ckpt_path', None)}
    paths.update((getattr(hook, 'best_ckpt_path_dict', None) or {}).values())
    return {str(path) for path in paths if path}


def package_and_cfg_path(cfg_path):
    """``'pkg::path/to/cfg.py'`` -> ``('pkg', 'path/to/cfg.py')``, a path with or without folders.

    mmengine 0.10.7's ``_get_package_and_cfg_path`` accepts only ``pkg::folder/file`` (its regex
    requires a ``/``), so ``_base_ = 'mmspike::svformer_demo.py'`` fails with "please specify the
    package name and relative config path" although the file is where ``.mim/configs`` puts it,
    and it asserts that ``pkg`` is one of the packages in its ``MODULE2PACKAGE`` table, which
    lists OpenMMLab's codebases only.
    """
    package, sep, path = cfg_path.partition('::')
    if not sep or not package or not path or not package.replace('_', '').isalnum():
        raise ValueError(f'expected a config path like "mmspike::svformer_demo.py" or '
                         f'"mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py", got {cfg_path!r}')
    return package, path


def installed_package_path(package, get_installed_path=None):
    """mmengine's ``get_installed_path(package)``, or the folder the package is imported from
    when the distribution's location does not hold it.

    mmengine 0.10.7 joins the distribution's location and the package name; for an editable
    install through an import hook (PEP 660, what ``pip install -e .`` makes with current
    setuptools) that location is ``site-packages``, where the package is not, so
    ``_base_ = 'mmspike::...'`` fails with "No such file or directory: .../site-packages/mmspike/
    .mim/model-index.yml".
    """
    if get_installed_path is None:
        from mmengine.utils import get_installed_path
    path = get_installed_path(package)
    if osp.isdir(path):
        return path
    from mmengine.utils.package_utils import package2module
    spec = importlib.util.find_spec(package2module(package))
    if spec is not None and spec.origin is not None:
        return osp.dirname(spec.origin)
    return path


def repair_mmengine_package_config_paths():
    """Let ``Config.fromfile`` resolve ``pkg::file.py`` (no folder), see
    :func:`package_and_cfg_path`, find the configs of editable installs
    (:func:`installed_package_path`) and inherit ``mmspike::`` configs without a registry scope.

    mmengine marks every dict of a ``pkg::`` base config with ``_scope_='pkg'``.  mmspike has no
    registry scope of its own (its modules are in mmengine's root registries, so that every
    codebase's scope finds them), so ``_scope_='mmspike'`` would only make every build fall back
    to the current registry with a warning.  Applied by :func:`apply`; a config parsed before an
    adapter is imported (by a codebase's stock ``tools/train.py``) cannot inherit ``mmspike::``
    configs: ``mim train mmspike CONFIG`` runs mmspike's ``tools/train.py``, which applies it
    first.
    """
    import mmengine.config.config as config_module
    config_module._get_package_and_cfg_path = package_and_cfg_path

    def editable_aware(get_installed_path):
        def installed_path(package):
            return installed_package_path(package, get_installed_path)
        return installed_path

    patch_once(config_module, 'get_installed_path', editable_aware)
    original = config_module.Config._get_cfg_path
    original = getattr(original, '__wrapped_by_mmspike__', original)

    def get_cfg_path(cfg_path, filename):
        path, scope = original(cfg_path, filename)
        return path, (None if scope == 'mmspike' else scope)

    get_cfg_path.__wrapped_by_mmspike__ = original
    config_module.Config._get_cfg_path = staticmethod(get_cfg_path)
    return True


def repair_mmengine_cpu_distributed():
    """Let mmengine's Runner train with torchrun on a machine without CUDA (gloo).

    mmengine 0.10.7 fails there in three places; each is replaced by :mod:`mmspike.engine.dist`'s
    device-aware version (idempotent):

    * ``init_dist('pytorch', backend=...)`` calls ``torch.cuda.set_device`` whatever the backend
      ("Found no NVIDIA driver") -> :func:`mmspike.engine.dist.init_dist_pytorch`: without CUDA a
      config's ``nccl`` becomes ``gloo`` (logged) and CUDA is not touched;
    * ``Runner.wrap_model`` gives DistributedDataParallel ``device_ids=[LOCAL_RANK]``, which DDP
      refuses for a CPU module -> ``device_ids=None`` when the device is the CPU;
    * ``sync_bn='torch'`` converts to ``torch.nn.SyncBatchNorm``, which refuses CPU tensors ->
      :func:`mmspike.engine.dist.sync_batchnorm_for` (mmspike's all-reduce SyncBN on the CPU, and
      for ``sync_bn='mmspike'``).
    No upstream issue found.
    """
    import mmengine.dist.utils as dist_utils
    import mmengine.runner.runner as runner_module

    from . import dist as mmspike_dist

    def device_aware_init(init):
        def init_dist_pytorch(backend, init_backend='torch', **kwargs):
            mmspike_dist.init_dist_pytorch(backend, init_backend=init_backend, original=init,
                                           **kwargs)
        return init_dist_pytorch

    def any_backend_sync_bn(convert):
        def convert_sync_batchnorm(module, implementation='torch'):
            return mmspike_dist.sync_batchnorm_for(module, implementation, convert)
        return convert_sync_batchnorm

    def cpu_ddp_wrapper(wrap):
        def wrap_model(self, model_wrapper_cfg, model):
            from mmengine.device import get_device
            from mmengine.model import is_model_wrapper
            from mmengine.registry import MODEL_WRAPPERS
            from torch.nn.parallel import DistributedDataParallel
            if self.distributed and not is_model_wrapper(model) and get_device() == 'cpu':
                wrapper = MODEL_WRAPPERS.get((model_wrapper_cfg or {}).get(
                    'type', 'MMDistributedDataParallel'))
                if isinstance(wrapper, type) and issubclass(wrapper, DistributedDataParallel):
                    model_wrapper_cfg = mmspike_dist.cpu_model_wrapper_cfg(
                        model_wrapper_cfg, self.cfg.get('find_unused_parameters', False))
            return wrap(self, model_wrapper_cfg, model)
        return wrap_model

    patch_once(dist_utils, '_init_dist_pytorch', device_aware_init)
    patch_once(runner_module, 'convert_sync_batchnorm', any_backend_sync_bn)
    patch_once(runner_module.Runner, 'wrap_model', cpu_ddp_wrapper)
    return True


def repair_mmaction_bf16_scores():
    """Let MMAction2's heads compute their loss on bfloat16 scores (mixed precision, ``--amp``).

    mmaction2 1.2.0's ``BaseHead.loss_by_feat`` turns the scores into a NumPy array for the
    top-k accuracies, which fails under bfloat16 autocast with "Got unsupported ScalarType
    BFloat16" (NumPy has no bfloat16).  The wrapper casts float16 / bfloat16 scores to float32
    first, so the loss is also computed in float32.  Applied by ``tools/train.py --amp`` and
    :class:`mmspike.engine.amp.AutocastOptimWrapper` when MMAction2 is already imported and its
    version needs it; returns whether the repair is in place.  No upstream issue
    found.
    """
    if 'mmaction' not in sys.modules or not mmaction_needs_bf16_repair():
        return False
    import torch
    from mmaction.models.heads.base import BaseHead

    def float32_scores(original):
        def loss_by_feat(self, cls_scores, data_samples):
            low_precision = (torch.float16, torch.bfloat16)
            if torch.is_tensor(cls_scores) and cls_scores.dtype in low_precision:
                cls_scores = cls_scores.float()
            return original(self, cls_scores, data_samples)
        return loss_by_feat

    patch_once(BaseHead, 'loss_by_feat', float32_scores)
    return True


class Repair(NamedTuple):
    """One upstream repair: ``needed()`` says whether the installed versions have the bug,
    ``apply()`` repairs it (idempotent)."""
    name: str
    needed: Callable[[], bool]
    apply: Callable[[], object]


RUNNER_REPAIRS = (
    Repair('mmengine checkpoint loading (weights_only)', mmengine_needs_weights_only_repair,
           repair_mmengine_checkpoint_loading),
    Repair('mmengine atomic checkpoint saving', mmengine_needs_atomic_saving,
           repair_mmengine_checkpoint_saving),
    Repair('mmengine pkg::file.py config paths', mmengine_needs_config_path_repair,
           repair_mmengine_package_config_paths),
    Repair('mmengine torchrun without CUDA', mmengine_needs_cpu_distributed_repair,
           repair_mmengine_cpu_distributed),
)

_applied: List[str] = []


def apply() -> List[str]:
    """Apply every runner repair the installed versions need (see the module docstring);
    return the names of the repairs now in place.  Called by the task adapters and tools."""
    for repair in RUNNER_REPAIRS:
        if repair.name not in _applied and repair.needed():
            repair.apply()
            _applied.append(repair.name)
    return list(_applied)


def applied() -> List[str]:
    """The names of the repairs :func:`apply` has put in place in this process."""
    return list(_applied)


def mmaction_localizers_dir():
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return None
    return osp.join(list(spec.submodule_search_locations)[0], 'models', 'localizers')


def mmaction_lacks_drn():
    """Whether the installed mmaction2 lacks ``models/localizers/drn`` (the 1.2.0 wheel)."""
    localizers = mmaction_localizers_dir()
    return (localizers is not None and osp.isfile(osp.join(localizers, '__init__.py'))
            and not osp.isfile(osp.join(localizers, 'drn', 'drn.py')))


DRN_MODULE = 'mmaction.models.localizers.drn'


class DRNPlaceholder:
    """Stands in for MMAction2's DRN when the installed wheel lacks its code."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            'DRN is not available: the installed mmaction2 wheel ships without '
            'mmaction/models/localizers/drn (open-mmlab/mmaction2#2714); mmspike put a '
            'placeholder in its place so that `import mmaction.models` works. Install mmaction2 '
            'from its git repository to use DRN.')


#: the distribution of each task's codebase
TASK_CODEBASES = {'action': 'mmaction2', 'pose': 'mmpose', 'seg': 'mmsegmentation'}


def prepare_codebase(task: str) -> None:
    """What must happen before mmspike imports a task's codebase: the version check of mmcv and
    the codebase (:func:`mmspike.engine.versions.check_versions`) and, for MMAction2, the DRN
    placeholder (:func:`provide_mmaction_drn_placeholder`).  Called by the task adapters and by
    the task sub-packages that import the codebase (so that importing, e.g.,
    ``mmspike.heads.action`` alone works too)."""
    from .versions import check_versions
    if task not in TASK_CODEBASES:
        raise ValueError(f'unknown task {task!r}; expected one of {sorted(TASK_CODEBASES)}')
    check_versions('mmcv', TASK_CODEBASES[task], needed_by=f'mmspike.{task}')
    if task == 'action' and provide_mmaction_drn_placeholder():
        from mmaction.registry import MODELS
        if 'DRN' not in MODELS.module_dict:
            MODELS.register_module('DRN', module=DRNPlaceholder)


def provide_mmaction_drn_placeholder() -> bool:
    """Before ``import mmaction.models``: if the installed mmaction2 lacks the ``drn`` package,
    put in-memory placeholder modules ``mmaction.models.localizers.drn(.drn)`` in
    ``sys.modules`` whose ``DRN`` raises a clear error when built.  Writes nothing to disk.
    Returns whether the placeholder is in place."""
    if DRN_MODULE in sys.modules:
        return getattr(sys.modules[DRN_MODULE], 'DRN', None) is DRNPlaceholder
    if not mmaction_lacks_drn():
        return False
    package = types.ModuleType(DRN_MODULE, 'mmspike placeholder for open-mmlab/mmaction2#2714')
    package.__path__ = []
    module = types.ModuleType(DRN_MODULE + '.drn', package.__doc__)
    package.DRN = module.DRN = DRNPlaceholder
    package.__all__ = module.__all__ = ['DRN']
    package.drn = module
    sys.modules[DRN_MODULE] = package
    sys.modules[DRN_MODULE + '.drn'] = module
    return True
