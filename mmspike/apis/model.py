"""Build a model from a config and load its weights: :func:`init_model` (what the tools, the
inference functions and frame-by-frame streaming use), and its two steps :func:`build_model`
and :func:`load_weights`."""
import contextlib
import copy
import importlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Iterator, Optional, Union

import torch
from mmengine.config import Config
from torch import nn

ConfigType = Union[str, os.PathLike, Config]


def load_config(config: ConfigType, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``config`` (a path; its ``custom_imports`` are imported) or a copy of the
    given :class:`~mmengine.config.Config`, with ``cfg_options`` merged.

    Args:
        config (str | PathLike | Config): config file or config.
        cfg_options (dict, optional): entries to override, e.g.
            ``{'model.backbone.attention': 'causal'}``. Defaults to None.

    Raises:
        FileNotFoundError: the config file does not exist.
        TypeError: ``config`` is neither a path nor a Config.
    """
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file {path!r} does not exist')
        cfg = Config.fromfile(path)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a file path or an mmengine Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def import_custom_modules(cfg: Config) -> None:
    """Import the modules of ``cfg.custom_imports`` (e.g. the task adapter ``mmspike.action``),
    as ``Config.fromfile`` and the Runner do; nothing when the config names none."""
    custom = cfg.get('custom_imports', None)
    if custom:
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**custom)


@contextlib.contextmanager
def config_scope(cfg: Config) -> Iterator[None]:
    """Registries resolve names in the config's ``default_scope`` (``mmaction``, ``mmpose``,
    ``mmseg``) inside the block, as they do in the Runner built from the config."""
    scope = cfg.get('default_scope', None)
    if scope is None:
        yield
        return
    from mmengine.registry import DefaultScope
    importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        yield


def build_model(cfg: Config) -> nn.Module:
    """``cfg.model`` built as the Runner of ``tools/test.py`` builds it, with random weights.

    Imports the config's ``custom_imports``, applies the upstream repairs
    (:func:`mmspike.engine.compat.apply`), makes the config's ``default_scope`` the default
    scope of the process (as OpenMMLab's ``init_model`` functions do, so that pipelines and
    datasets of the config can be built afterwards) and builds ``cfg.model`` from that scope's
    ``MODELS`` registry.  The config is kept as ``model.cfg``.

    Args:
        cfg (Config): the config (see :func:`load_config`).
    """
    from mmspike.engine import compat
    import_custom_modules(cfg)
    compat.apply()
    scope = cfg.get('default_scope', None)
    if scope is not None:
        from mmengine.registry import init_default_scope
        init_default_scope(scope)
    if 'model' not in cfg:
        raise ValueError('the config has no "model" entry')
    with config_scope(cfg):
        if scope is None:
            from mmengine.registry import MODELS as registry
        else:
            registry = importlib.import_module(f'{scope}.registry').MODELS
        model = registry.build(cfg.model)
    model.cfg = cfg
    return model


def initialise(model: nn.Module) -> nn.Module:
    """Run ``model.init_weights()`` (the config's ``init_cfg``: the weights a training run starts
    from), with mmengine's per-parameter initialisation log silenced."""
    if hasattr(model, 'init_weights'):
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs one paragraph per parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    return model


def load_weights(model: nn.Module, checkpoint: str) -> dict:
    """Load the state dict of the checkpoint file ``checkpoint`` into ``model``, strictly.

    The file is read by mmspike's safe loader (:func:`mmspike.engine.checkpoint.
    load_checkpoint_file`: ``weights_only=True``, a pickle that would run code is refused);
    a DDP ``module.`` prefix is dropped.  Before any tensor is copied, the shapes are compared
    (the message of :class:`mmspike.hooks.CheckpointShapeCheckHook`), then the keys: every
    tensor of the model must be in the checkpoint and nothing else.

    Args:
        model (nn.Module): the model built from the checkpoint's config.
        checkpoint (str): the checkpoint file (``{'state_dict': ...}`` or a bare state dict).

    Returns:
        dict: what the file holds (e.g. ``meta``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file holds no state dict, or one that does not fit the model.
    """
    from mmspike.engine.checkpoint import load_checkpoint_file
    from mmspike.hooks.checkpoint_hooks import first_shape_mismatch, shape_mismatch_message
    checkpoint = os.fspath(checkpoint)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    loaded = load_checkpoint_file(checkpoint, map_location='cpu')
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(torch.is_tensor(value) for value in state.values()):
        found = list(loaded)[:5] if isinstance(loaded, dict) else type(loaded).__name__
        raise ValueError(f'checkpoint {checkpoint!r} holds no state dict (expected '
                         f'"state_dict" or parameter names), found {found}')
    metadata = getattr(state, '_metadata', None)
    state = OrderedDict((key[len('module.'):] if key.startswith('module.') else key, value)
                        for key, value in state.items())
    if metadata is not None:
        state._metadata = metadata
    expected = model.state_dict()
    found = first_shape_mismatch(state, expected)
    if found is not None:
        raise ValueError(shape_mismatch_message(
            repr(checkpoint), found, 'Use the checkpoint of this config (or the config the '
            'checkpoint was trained with).'))
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise ValueError(f'checkpoint {checkpoint!r} does not fit the model '
                         f'{type(model).__name__}: {len(missing)} of its tensors missing '
                         f'{_some(missing)}, {len(unexpected)} unexpected {_some(unexpected)}. '
                         f'Use the checkpoint of this config.')
    model.load_state_dict(state, strict=True)
    return loaded if isinstance(loaded, dict) else {}


def _some(keys, limit: int = 5) -> str:
    return f'{keys[:limit]}{" ..." if len(keys) > limit else ""}'


def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """The model of a config with its weights, in eval mode, for inference.

    :func:`load_config`, then :func:`build_model` (custom imports, upstream repairs, the
    config's default scope; the config kept as ``model.cfg``), then the weights: those of
    ``checkpoint`` (:func:`load_weights`: safe loader, strict, shapes checked first), or
    without one the initialisation of the config (``init_weights``, "untrained").

    Args:
        config (str | PathLike | Config): config file or config.
        checkpoint (str, optional): checkpoint file. Defaults to None (initial weights).
        device (str | torch.device): where the model goes. Defaults to 'cpu'.
        cfg_options (dict, optional): config entries to override. Defaults to None.

    Returns:
        nn.Module: the model, in eval mode, with ``model.cfg``.

    Raises:
        FileNotFoundError: the config or the checkpoint does not exist (checked before the
            model is built).
        ValueError: the checkpoint does not fit the model.
    """
    cfg = load_config(config, cfg_options)
    if checkpoint is not None and not osp.isfile(os.fspath(checkpoint)):
        raise FileNotFoundError(f'checkpoint {os.fspath(checkpoint)!r} does not exist')
    model = build_model(cfg)
    if checkpoint is None:
        initialise(model)
    else:
        load_weights(model, checkpoint)
    return model.to(device).eval()
