"""Repairs for upstream bugs in the pinned OpenMMLab releases - the one place they live.

Runtime repairs (applied by ``import mmspike``):

* :func:`repair_mmengine_checkpoint_loading` - mmengine 0.10.7 calls ``torch.load(file)``; since
  torch 2.6 that means ``weights_only=True`` and a Runner checkpoint (which pickles the message
  hub's ``HistoryBuffer``, numpy arrays, ...) fails to resume with ``UnpicklingError: Weights only
  load failed``.  Upstream: open-mmlab/mmengine#1655 (fixed only on mmengine's unreleased main).
* :func:`repair_mmengine_package_config_paths` - mmengine 0.10.7 resolves ``pkg::folder/cfg.py``
  but rejects ``pkg::cfg.py`` (a regex demands a folder), so configs at the top of a package's
  ``.mim/configs`` cannot be inherited as ``_base_ = 'mmspike::svformer_demo.py'``.  No upstream
  issue found.

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


def load_local_checkpoint_full(filename, map_location=None):
    """mmengine's local-file checkpoint loader with ``weights_only=False``.

    Runner checkpoints are full pickles (meta, message hub, optimizer state); loading them is
    as trusted as it was before torch 2.6 - only load checkpoints you trust.
    """
    import torch
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} can not be found')
    return torch.load(filename, map_location=map_location, weights_only=False)


def repair_mmengine_checkpoint_loading():
    """Register :func:`load_local_checkpoint_full` as mmengine's loader for local paths.

    Returns True when the repair was needed and applied (idempotent).
    """
    if not mmengine_needs_weights_only_repair():
        return False
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not load_local_checkpoint_full:
        CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint_full,
                                         force=True)
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
    repair_mmengine_package_config_paths()


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
