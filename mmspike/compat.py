"""Repairs for upstream bugs in the pinned OpenMMLab releases - the one place they live.

Runtime repairs (applied by ``import mmspike``):

* :func:`repair_mmengine_checkpoint_loading` - mmengine 0.10.7 calls ``torch.load(file)``; since
  torch 2.6 that means ``weights_only=True`` and a Runner checkpoint (which pickles the message
  hub's ``HistoryBuffer``, numpy arrays, ...) fails to resume with ``UnpicklingError: Weights only
  load failed``.  Upstream: open-mmlab/mmengine#1655 (fixed only on mmengine's unreleased main).
  Local files (and URL downloads, which mmengine loads with ``weights_only=False``) now load
  through :func:`mmspike.checkpoint.load_checkpoint_file`: ``weights_only=True`` with exactly the
  globals runners write, anything else refused; opt-out for trusted legacy files:
  ``MMSPIKE_TRUST_CHECKPOINTS=1``.
* :func:`repair_mmengine_checkpoint_saving` - mmengine 0.10.7 writes checkpoints and the
  ``last_checkpoint`` pointer in place (and deletes the oldest checkpoint before writing the new
  one), so a process killed during a save leaves a truncated file.  Local writes become atomic
  (temporary file, fsync, ``os.replace``) and old checkpoints are removed only after the new one
  and the pointer are written.  No upstream issue found.
* :func:`repair_mmengine_package_config_paths` - mmengine 0.10.7 resolves ``pkg::folder/cfg.py``
  but rejects ``pkg::cfg.py`` (a regex demands a folder), so configs at the top of a package's
  ``.mim/configs`` cannot be inherited as ``_base_ = 'mmspike::svformer_demo.py'``.  No upstream
  issue found.
* :func:`repair_mmengine_cpu_distributed` - mmengine 0.10.7's ``pytorch`` launcher calls
  ``torch.cuda.set_device`` whatever the backend, its DDP wrapper passes ``device_ids`` and its
  ``sync_bn`` uses torch's GPU-only SyncBatchNorm, so torchrun training fails on a CPU machine.
  Without CUDA, ``nccl`` becomes ``gloo`` and SyncBN is :mod:`mmspike.dist`'s.
* :func:`repair_mmaction_bf16_scores` - mmaction2 1.2.0's heads turn bfloat16 scores into NumPy
  arrays ("Got unsupported ScalarType BFloat16"); applied for mixed precision (``--amp``).

Install-time repairs (``mmspike-compat --install``, run by ``tools/setup_env.sh``):

* :func:`install_mmaction_drn_placeholder` - the mmaction2 1.2.0 wheel on PyPI lacks the package
  ``mmaction/models/localizers/drn`` that ``mmaction/models/localizers/__init__.py`` imports, so
  ``import mmaction.models`` fails with ``No module named 'mmaction.models.localizers.drn'``.
  Upstream: open-mmlab/mmaction2#2714.  We write a placeholder package whose ``DRN`` raises a
  clear error if anyone builds it; every other model imports normally.

Other install traps (setuptools<81 for ``pkg_resources``, C++20 for mmcv's ops, chumpy without
build isolation, xtcocotools rebuilt for numpy 2) are handled in ``tools/setup_env.sh``.
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys

DRN_PLACEHOLDER_MARKER = 'mmspike placeholder for open-mmlab/mmaction2#2714'

_DRN_INIT = f'''# {DRN_PLACEHOLDER_MARKER}
# Written by `mmspike-compat --install`.  The mmaction2 1.2.0 wheel ships without this
# package, which breaks `import mmaction.models`.
from .drn import DRN

__all__ = ['DRN']
'''

_DRN_MODULE = f'''# {DRN_PLACEHOLDER_MARKER}
from mmaction.registry import MODELS


@MODELS.register_module()
class DRN:
    """Placeholder: DRN's code is missing from the mmaction2 1.2.0 wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "DRN is not available: the mmaction2 1.2.0 wheel ships without "
            "mmaction/models/localizers/drn (open-mmlab/mmaction2#2714). mmspike installed a "
            "placeholder so that `import mmaction.models` works; install mmaction2 from its "
            "git repository to use DRN.")
'''


def _version_tuple(version):
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''.join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def mmengine_needs_weights_only_repair():
    import mmengine
    import torch
    return (_version_tuple(torch.__version__) >= (2, 6)
            and _version_tuple(mmengine.__version__) <= (0, 10, 7))


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
    """mmengine's loader for local paths: :func:`mmspike.checkpoint.load_checkpoint_file`
    (``weights_only=True`` with the runner allowlist; ``MMSPIKE_TRUST_CHECKPOINTS=1`` opts out)."""
    from .checkpoint import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


def load_url_checkpoint_safe(url, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None):
    """Replacement of ``load_url`` in mmengine's http loader (also behind ``torchvision://``,
    ``open-mmlab://``, ...): download into torch hub's cache as before, then load the file with
    :func:`mmspike.checkpoint.load_checkpoint_file` instead of a full pickle."""
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
      local paths through :func:`mmspike.checkpoint.atomic_save`, other backends unchanged;
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
    package name and relative config path" although the file is where ``.mim/configs`` puts it.
    """
    package, sep, path = cfg_path.partition('::')
    if not sep or not package or not path or not package.replace('_', '').isalnum():
        raise ValueError(f'expected a config path like "mmspike::svformer_demo.py" or '
                         f'"mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py", got {cfg_path!r}')
    return package, path


def repair_mmengine_package_config_paths():
    """Let ``Config.fromfile`` resolve ``pkg::file.py`` (no folder), see
    :func:`package_and_cfg_path`, and inherit ``mmspike::`` configs without a registry scope.

    mmengine marks every dict of a ``pkg::`` base config with ``_scope_='pkg'``.  mmspike has no
    registry scope of its own (its modules are in mmengine's root registries, so that every
    codebase's scope finds them), so ``_scope_='mmspike'`` would only make every build fall back
    to the current registry with a warning.  Applied by ``import mmspike``; a config parsed
    before mmspike is imported (a codebase's stock ``tools/train.py``) still needs
    ``pkg::folder/file.py`` and gets the warnings.
    """
    import mmengine.config.config as config_module
    config_module._get_package_and_cfg_path = package_and_cfg_path
    original = config_module.Config._get_cfg_path
    original = getattr(original, '__wrapped_by_mmspike__', original)

    def get_cfg_path(cfg_path, filename):
        path, scope = original(cfg_path, filename)
        return path, (None if scope == 'mmspike' else scope)

    get_cfg_path.__wrapped_by_mmspike__ = original
    config_module.Config._get_cfg_path = staticmethod(get_cfg_path)
    return True


def apply_runtime_repairs():
    repair_mmengine_checkpoint_loading()
    repair_mmengine_checkpoint_saving()
    repair_mmengine_package_config_paths()
    repair_mmengine_cpu_distributed()


def mmaction_localizers_dir():
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return None
    return osp.join(list(spec.submodule_search_locations)[0], 'models', 'localizers')


def drn_status():
    """'ok' (real package), 'placeholder', 'missing', or 'no-mmaction'."""
    localizers = mmaction_localizers_dir()
    if localizers is None:
        return 'no-mmaction'
    init = osp.join(localizers, 'drn', '__init__.py')
    if not osp.isfile(init) or not osp.isfile(osp.join(localizers, 'drn', 'drn.py')):
        return 'missing'
    with open(init) as f:
        return 'placeholder' if DRN_PLACEHOLDER_MARKER in f.read() else 'ok'


def install_mmaction_drn_placeholder():
    """Write the DRN placeholder package if mmaction2's own is missing.  Returns the status
    before the call."""
    status = drn_status()
    if status != 'missing':
        return status
    drn_dir = osp.join(mmaction_localizers_dir(), 'drn')
    os.makedirs(drn_dir, exist_ok=True)
    for name, text in (('drn.py', _DRN_MODULE), ('__init__.py', _DRN_INIT)):
        tmp = osp.join(drn_dir, name + '.tmp')
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, osp.join(drn_dir, name))
    return status


def repair_mmengine_cpu_distributed():
    """Let mmengine's Runner train with torchrun on a machine without CUDA (gloo).

    mmengine 0.10.7 fails there in three places; each is replaced by :mod:`mmspike.dist`'s
    device-aware version (idempotent):

    * ``init_dist('pytorch', backend=...)`` calls ``torch.cuda.set_device`` whatever the backend
      ("Found no NVIDIA driver") -> :func:`mmspike.dist.init_dist_pytorch`: without CUDA a
      config's ``nccl`` becomes ``gloo`` (logged) and CUDA is not touched;
    * ``Runner.wrap_model`` gives DistributedDataParallel ``device_ids=[LOCAL_RANK]``, which DDP
      refuses for a CPU module -> ``device_ids=None`` when the device is the CPU;
    * ``sync_bn='torch'`` converts to ``torch.nn.SyncBatchNorm``, which refuses CPU tensors ->
      :func:`mmspike.dist.sync_batchnorm_for` (mmspike's all-reduce SyncBN on the CPU, and for
      ``sync_bn='mmspike'``).
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
    :class:`mmspike.amp.AutocastOptimWrapper` when MMAction2 is already imported (``import
    mmspike`` does not import it); returns whether the repair is in place.  No upstream issue
    found.
    """
    if 'mmaction' not in sys.modules:
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--install', action='store_true',
                        help='apply the install-time repairs to this environment')
    args = parser.parse_args(argv)
    if args.install:
        before = install_mmaction_drn_placeholder()
        print(f'mmaction2 localizers/drn: {before} -> {drn_status()}')
    else:
        print(f'mmaction2 localizers/drn: {drn_status()}')
        print('mmengine weights_only repair needed: '
              f'{mmengine_needs_weights_only_repair()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
