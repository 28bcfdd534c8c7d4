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
  Local files (and URL downloads) load through
  :func:`mmspike.engine.checkpoint.load_checkpoint_file`: ``weights_only=True`` with exactly the
  globals runners write, anything else refused; opt-out for trusted legacy files:
  ``MMSPIKE_TRUST_CHECKPOINTS=1``.
* :func:`repair_mmengine_checkpoint_saving` (mmengine <= 0.10.7) - checkpoints and the
  ``last_checkpoint`` pointer are written in place (and the oldest checkpoint is deleted before
  the new one is written), so a process killed during a save leaves a truncated file.  Local
  writes become atomic (temporary file, fsync, ``os.replace``) and old checkpoints are removed
  only after the new one and the pointer are written.  No upstream issue found.
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
import os
import os.path as osp
import sys
import types
from typing import Callable, List, NamedTuple

from .versions import installed_version, version_tuple

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


def load_from_local_safe(filename, map_location=None):
    """mmengine's loader for local paths: :func:`mmspike.engine.checkpoint.load_checkpoint_file`
    (``weights_only=True`` with the runner allowlist; ``MMSPIKE_TRUST_CHECKPOINTS=1`` opts out)."""
    from .checkpoint import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


def load_url_checkpoint_safe(url, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None):
    """Replacement of ``load_url`` in mmengine's http loader (also behind ``torchvision://``,
    ``open-mmlab://``, ...): download into torch hub's cache as before, then load the file with
    :func:`mmspike.engine.checkpoint.load_checkpoint_file` instead of a full pickle."""
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


def repair_mmengine_checkpoint_loading():
    """Register :func:`load_from_local_safe` as mmengine's loader for local paths and
    :func:`load_url_checkpoint_safe` as its URL download-and-load (idempotent).

    Returns True.
    """
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not load_from_local_safe:
        CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe,
                                         force=True)
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


def repair_mmengine_checkpoint_saving():
    """Make mmengine's local checkpoint writes atomic (idempotent), see the module docstring.

    * ``save_checkpoint`` (in ``mmengine.runner``, ``.runner.runner``, ``.runner.checkpoint``):
      local paths through :func:`mmspike.engine.checkpoint.atomic_save`, other backends unchanged;
    * ``CheckpointHook._save_checkpoint_with_step``: the ``last_checkpoint`` pointer is written
      atomically and the checkpoints beyond ``max_keep_ckpts`` are deleted after the new
      checkpoint and the pointer are on disk, not before.

    Returns True.
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
    return True


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
