"""Official SVFormer checkpoints (github yult0821/SVFormer) -> mmspike.

An official checkpoint is what the official SlowFast code writes (``{'model_state': ..., 'cfg':
..., ...}``, e.g. ``checkpoints/best_Valtop1Err_checkpoint.pyth``) for its model
``Uniformer2d_psnn_try`` (``slowfast/models/uniformer2d_psnn_try.py``); a bare state dict also
works, and a DDP ``module.`` prefix is dropped.  :func:`convert_checkpoint` writes
``{'state_dict': ..., 'meta': ...}`` for an mmspike ``Recognizer3D`` with the
:class:`~mmspike.backbones.SVFormer` backbone and ``SVFormerHead`` (use it with
``load_from=DST`` or ``tools/test.py CONFIG DST``): the keys are renamed
(:func:`convert_svformer_state_dict`, tensors unchanged), the model sizes (widths, depths, MLP
ratio, frames, frame size, classes) are read from the tensor shapes (:func:`infer_model_cfg`),
the converted tensors are checked against an mmspike model built with them (strict: no
missing, unexpected or mis-shaped tensor, :func:`check_against`), and the matching model config
is stored in ``meta['model_cfg']``.

The head width of the attention stages is not stored in the tensors: it comes from the
checkpoint's own ``cfg`` (``UNIFORMER.HEAD_DIM``) when present, else from ``head_dim`` (default
64, the official default and the released UCF101 model: 6 and 8 heads).

The file is read with mmspike's safe loader (:func:`mmspike.engine.checkpoint.
load_checkpoint_file`, ``weights_only=True``): the official format holds only tensors, numbers
and strings; ``allow_pickle`` (or ``MMSPIKE_TRUST_CHECKPOINTS=1``) lifts that for a *trusted*
file.  ``tools/convert_svformer.py`` is the command line; the Meta-SpikeFormer counterpart is
:func:`mmspike.backbones.spikevideoformer.convert_metaspikformer_state_dict`.
"""
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

_FIELDS = {
    'P': r'weight|bias',
    'BN': r'weight|bias|running_mean|running_var|num_batches_tracked',
    'j': r'\d+',
    'k': r'[12]',
    'n': r'in|q|k|v|proj',
}


def _rule_templates() -> List[Tuple[str, str]]:
    """``(official, mmspike)`` key templates; ``{P}``, ``{BN}``, ``{j}``, ``{k}``, ``{n}`` stand
    for the same text on both sides (tensor name, block index, MLP layer, attention neuron)."""
    rules = [
        ('patch_embed1.proj.{P}', 'backbone.stem.conv.module.{P}'),
        ('patch_embed1.norm.{BN}', 'backbone.stem.bn.bn.{BN}'),
        ('lplif.w', 'backbone.local_path.0.w'),
        ('lpDWConv.{P}', 'backbone.local_path.1.module.0.{P}'),
        ('lpPWConv.{P}', 'backbone.local_path.1.module.1.{P}'),
        ('lpBN.{BN}', 'backbone.local_path.2.bn.{BN}'),
        ('lif_bf_head.w', 'cls_head.neuron.w'),
        ('dwconv_bf_head.{P}', 'cls_head.temporal_conv.{P}'),
        ('dwconv_bn.{BN}', 'cls_head.temporal_bn.{BN}'),
        ('head.{P}', 'cls_head.fc_cls.{P}'),
    ]
    for stage in (2, 3, 4):  # PatchEmbed: in_lif -> proj -> norm
        src, dst = f'patch_embed{stage}', f'backbone.downsamples.{stage - 2}'
        rules += [(f'{src}.in_lif.w', f'{dst}.neuron.w'),
                  (f'{src}.proj.{{P}}', f'{dst}.conv.module.{{P}}'),
                  (f'{src}.norm.{{BN}}', f'{dst}.bn.bn.{{BN}}')]
    for stage in (1, 2):  # CBlock -> LFEBlock
        src, dst = f'blocks{stage}.{{j}}', f'backbone.stages.{stage - 1}.{{j}}'
        rules += [(f'{src}.act1.w', f'{dst}.neuron.w'),
                  (f'{src}.conv1.{{P}}', f'{dst}.mixer.module.0.{{P}}'),
                  (f'{src}.attn.{{P}}', f'{dst}.mixer.module.1.{{P}}'),
                  (f'{src}.conv2.{{P}}', f'{dst}.mixer.module.2.{{P}}'),
                  (f'{src}.norm2.{{BN}}', f'{dst}.bn.bn.{{BN}}'),
                  (f'{src}.mlp.act{{k}}.w', f'{dst}.mlp.neuron{{k}}.w'),
                  (f'{src}.mlp.fc{{k}}.{{P}}', f'{dst}.mlp.fc{{k}}.module.{{P}}'),
                  (f'{src}.mlp.norm{{k}}.{{BN}}', f'{dst}.mlp.bn{{k}}.bn.{{BN}}')]
    for stage in (3, 4):  # SABlock -> GSABlock
        src, dst = f'blocks{stage}.{{j}}', f'backbone.stages.{stage - 1}.{{j}}'
        rules += [(f'{src}.attn.{{n}}_lif.w', f'{dst}.attn.{{n}}_neuron.w'),
                  (f'{src}.attn.qkv.{{P}}', f'{dst}.attn.qkv.linear.{{P}}'),
                  (f'{src}.attn.norm1.{{BN}}', f'{dst}.attn.qkv.bn.bn.{{BN}}'),
                  (f'{src}.attn.proj.{{P}}', f'{dst}.attn.proj.linear.{{P}}'),
                  (f'{src}.attn.norm2.{{BN}}', f'{dst}.attn.proj.bn.bn.{{BN}}'),
                  (f'{src}.mlp.act{{k}}.w', f'{dst}.mlp.neuron{{k}}.w'),
                  (f'{src}.mlp.fc{{k}}.{{P}}', f'{dst}.mlp.fc{{k}}.linear.{{P}}'),
                  (f'{src}.mlp.norm{{k}}.{{BN}}', f'{dst}.mlp.fc{{k}}.bn.bn.{{BN}}')]
    return rules


def _template_regex(template: str) -> 're.Pattern':
    parts = re.split(r'\{(\w+)\}', template)
    pattern = ''.join(f'(?P<{part}>{_FIELDS[part]})' if i % 2 else re.escape(part)
                      for i, part in enumerate(parts))
    return re.compile(pattern + r'\Z')


_RULES = [(_template_regex(src), dst, _template_regex(dst), src)
          for src, dst in _rule_templates()]


def official_to_mmspike_key(key: str) -> Optional[str]:
    """The mmspike ``Recognizer3D`` key of an official state-dict key; None if it has none."""
    for regex, template, _, _ in _RULES:
        match = regex.match(key)
        if match:
            return template.format(**match.groupdict())
    return None


def mmspike_to_official_key(key: str) -> Optional[str]:
    """Inverse of :func:`official_to_mmspike_key` (for error messages)."""
    for _, _, regex, template in _RULES:
        match = regex.match(key)
        if match:
            return template.format(**match.groupdict())
    return None


def strip_ddp_prefix(state: Dict) -> Dict:
    """Drop a ``module.`` prefix that every key has (a DistributedDataParallel state dict)."""
    if state and all(key.startswith('module.') for key in state):
        return OrderedDict((key[len('module.'):], value) for key, value in state.items())
    return state


def convert_svformer_state_dict(state: Dict) -> 'OrderedDict':
    """Rename an official SVFormer state dict to mmspike's; tensors are kept as they are.

    The layouts agree: the official per-step BatchNorms (``BatchNorm{1,2}d_eT``, ``T*C``
    features, channel ``t*C + c``) are :class:`~mmspike.layers.temporal.TemporalBatchNorm2d`'s,
    and the PLIF parameter ``w`` (``1/tau = sigmoid(w)``) is mmspike's ``MultiStepPLIF.w``.

    Args:
        state (dict): official key -> tensor, optionally all prefixed with ``module.``.

    Returns:
        OrderedDict: mmspike key -> tensor, in the official order.

    Raises:
        ValueError: naming the keys that are not part of the official model.
    """
    state = strip_ddp_prefix(state)
    converted, unknown = OrderedDict(), []
    for key, value in state.items():
        target = official_to_mmspike_key(key)
        if target is None:
            unknown.append(key)
        else:
            converted[target] = value
    if unknown:
        raise ValueError(f'{len(unknown)} key(s) are not part of the official SVFormer model '
                         f'(Uniformer2d_psnn_try): {unknown[:5]}'
                         f'{" ..." if len(unknown) > 5 else ""}')
    return converted


def _shape(state: Dict, key: str) -> Tuple[int, ...]:
    if key not in state:
        raise ValueError(f'official key {key!r} is missing; it is needed to size the model')
    return tuple(state[key].shape)


def infer_model_cfg(state: Dict, head_dim: int = 64) -> dict:
    """The mmspike model sizes of an official (unprefixed) SVFormer state dict.

    Args:
        state (dict): official key -> tensor.
        head_dim (int): channels per attention head (not stored in the tensors).
            Defaults to 64.

    Returns:
        dict: ``backbone`` and ``cls_head`` keyword arguments (plain values).
    """
    embed_dims = tuple(_shape(state, f'patch_embed{i}.proj.weight')[0] for i in range(1, 5))
    depths = tuple(len({key.split('.')[1] for key in state if key.startswith(f'blocks{i}.')})
                   for i in range(1, 5))
    if min(depths) < 1:
        raise ValueError(f'every stage needs at least one block, found depths {depths}')
    hidden = _shape(state, 'blocks1.0.mlp.fc1.weight')[0]
    num_frames = _shape(state, 'patch_embed1.norm.weight')[0] // embed_dims[0]
    head_conv = _shape(state, 'dwconv_bf_head.weight')  # (2C, 2C / groups, T, h, w)
    num_classes, in_channels = _shape(state, 'head.weight')
    for i, dim in enumerate(embed_dims[2:], 3):
        if dim % head_dim:
            raise ValueError(f'stage {i} width {dim} is not a multiple of head_dim={head_dim}')
    arch = dict(embed_dims=embed_dims, depths=depths,
                num_heads=(0, 0) + tuple(dim // head_dim for dim in embed_dims[2:]),
                mlp_ratio=hidden / embed_dims[0])
    feat_size = tuple(head_conv[3:])
    backbone = dict(arch=arch, num_frames=num_frames, img_size=tuple(32 * s for s in feat_size),
                    in_channels=_shape(state, 'patch_embed1.proj.weight')[1])
    cls_head = dict(num_classes=num_classes, in_channels=in_channels, num_frames=head_conv[2],
                    feat_size=feat_size, conv_groups=head_conv[0] // head_conv[1])
    return dict(backbone=backbone, cls_head=cls_head)


def build_target_state(model_cfg: dict) -> 'OrderedDict':
    """State dict (``backbone.`` / ``cls_head.`` keys) of the mmspike model ``model_cfg``."""
    import mmspike.action  # noqa: F401  (MMAction2, the base of the head)
    from ..heads.action.svformer_head import SVFormerHead
    from .svformer import SVFormer
    backbone = SVFormer(**model_cfg['backbone'], init_cfg=None)
    head = SVFormerHead(**model_cfg['cls_head'], init_cfg=None)
    state = OrderedDict(('backbone.' + k, v) for k, v in backbone.state_dict().items())
    state.update(('cls_head.' + k, v) for k, v in head.state_dict().items())
    return state


def check_against(converted: Dict, target: Dict) -> None:
    """Raise a ValueError unless ``converted`` fits ``target`` exactly (keys and shapes)."""
    for key, value in converted.items():
        if key not in target:
            raise ValueError(f'official key {mmspike_to_official_key(key)!r} maps to {key!r}, '
                             'which the mmspike SVFormer model does not have')
        if tuple(value.shape) != tuple(target[key].shape):
            raise ValueError(
                f'official key {mmspike_to_official_key(key)!r} has shape '
                f'{tuple(value.shape)}, but the model sized from the rest of the checkpoint '
                f'needs {tuple(target[key].shape)} for it (mmspike key {key!r})')
    missing = [key for key in target if key not in converted]
    if missing:
        names = [mmspike_to_official_key(key) or key for key in missing]
        raise ValueError(f'{len(missing)} tensor(s) of the official model are missing from the '
                         f'checkpoint: {names[:5]}{" ..." if len(missing) > 5 else ""}')


def load_official_checkpoint(path: str,
                              allow_pickle: bool = False) -> Tuple[Dict, Optional[str]]:
    """Read an official checkpoint: ``(state dict, cfg YAML text or None)``, with errors that
    name the problem."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    from ..engine.checkpoint import UnsafeCheckpointError, load_checkpoint_file
    try:
        # mmspike's one safe loader: weights_only=True unless allow_pickle or
        # MMSPIKE_TRUST_CHECKPOINTS=1 (the official format needs only tensors, numbers, strings)
        checkpoint = load_checkpoint_file(path, map_location='cpu',
                                          trusted=True if allow_pickle else None)
    except UnsafeCheckpointError as error:
        if not error.offending:
            raise ValueError(f'{path!r} is not a readable PyTorch checkpoint (corrupt or '
                             f'truncated?): {error}') from error
        raise ValueError(f'{error} allow_pickle=True (tools/convert_svformer.py '
                         f'--allow-pickle) does the same.') from error
    except pickle.UnpicklingError as error:
        detail = re.search(r'WeightsUnpickler error:\s*(.*?)\s*(\n\n|$)', str(error), re.S)
        raise ValueError(f'{path!r} is not a readable PyTorch checkpoint (corrupt or truncated?): '
                         f'{detail.group(1) if detail else error}') from error
    except Exception as error:  # truncated zip, not a pickle, ...
        raise ValueError(f'{path!r} is not a readable PyTorch checkpoint (corrupt or truncated?): '
                         f'{type(error).__name__}: {error}') from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{path!r} holds a {type(checkpoint).__name__}, expected a dict with '
                         '"model_state" (the official SlowFast format) or a state dict')
    cfg_text = checkpoint.get('cfg') if isinstance(checkpoint.get('cfg'), str) else None
    state = checkpoint.get('model_state', checkpoint)
    if not isinstance(state, dict) or not state or \
            not all(torch.is_tensor(value) for value in state.values()):
        raise ValueError(f'{path!r} holds no state dict: expected "model_state" (the official '
                         f'SlowFast format) or tensors, found keys {list(checkpoint)[:5]}')
    return state, cfg_text


def head_dim_from_cfg(cfg_text: Optional[str]) -> Optional[int]:
    """``UNIFORMER.HEAD_DIM`` of the official checkpoint's YAML ``cfg``, if it has one."""
    if not cfg_text:
        return None
    import yaml
    try:
        cfg = yaml.safe_load(cfg_text)
        return int(cfg['UNIFORMER']['HEAD_DIM'])
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def format_model_cfg(model_cfg: dict) -> str:
    """An mmspike config snippet for ``model_cfg`` (a named ``arch`` where one matches)."""
    from .svformer import SVFormer
    backbone = dict(model_cfg['backbone'])
    arch = backbone['arch']
    for name, known in SVFormer.arch_zoo.items():
        if all(tuple(known[k]) == tuple(arch[k]) for k in ('embed_dims', 'depths', 'num_heads')) \
                and float(known['mlp_ratio']) == arch['mlp_ratio']:
            backbone['arch'] = name
            break
    return f'model = dict(backbone={backbone!r},\n             cls_head={model_cfg["cls_head"]!r})'


def convert_checkpoint(src: str, dst: str, head_dim: Optional[int] = None,
                       allow_pickle: bool = False) -> dict:
    """Convert the official checkpoint ``src`` into the mmspike checkpoint ``dst`` (see the
    module docstring); nothing is written unless every tensor fits.

    Args:
        src (str): the official checkpoint (``.pyth``) or a bare state dict.
        dst (str): the mmspike checkpoint to write.
        head_dim (int, optional): channels per attention head. Defaults to the checkpoint's
            ``UNIFORMER.HEAD_DIM``, else 64.
        allow_pickle (bool): read ``src`` with full pickle (a trusted file only).

    Returns:
        dict: the mmspike model config (``backbone`` and ``cls_head`` keyword arguments).
    """
    state, cfg_text = load_official_checkpoint(src, allow_pickle)
    state = strip_ddp_prefix(state)
    converted = convert_svformer_state_dict(state)
    cfg_head_dim = head_dim_from_cfg(cfg_text)
    if head_dim is None:
        head_dim = cfg_head_dim or 64
    elif cfg_head_dim is not None and cfg_head_dim != head_dim:
        warnings.warn(f'head_dim={head_dim} overrides the checkpoint cfg HEAD_DIM '
                      f'{cfg_head_dim}')
    model_cfg = infer_model_cfg(state, head_dim)
    check_against(converted, build_target_state(model_cfg))
    torch.save(dict(state_dict=converted,
                    meta=dict(source=osp.abspath(src), model_cfg=model_cfg,
                              converter='mmspike.backbones.svformer_conversion')), dst)
    return model_cfg
