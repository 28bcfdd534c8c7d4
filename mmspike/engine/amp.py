"""Mixed-precision training on any device (``tools/train.py --amp``).

mmengine's ``AmpOptimWrapper`` refuses to start without a GPU ("AmpOptimizerWrapper is only
available training on gpu").  :class:`AutocastOptimWrapper` runs the forward pass under
``torch.autocast`` on the CPU (bfloat16), without a loss scaler: bfloat16 has float32's exponent
range, so gradients do not underflow as float16 ones do.  :func:`amp_optim_wrapper_cfg` picks
the wrapper for the device: this one on the CPU, mmengine's ``AmpOptimWrapper`` (float16 with a
dynamic loss scaler, or ``dtype='bfloat16'``) on a GPU.

The spiking neurons keep their membrane potential and surrogate gradient in float32 under
autocast (:class:`mmspike.neurons.multistep.BaseMultiStepNeuron` casts a float16 / bfloat16 input to
float32); their spikes come back in the input's dtype, in which 0/1 (and the integer spikes of
I-LIF) are exact.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper', 'amp_optim_wrapper_cfg']

#: autocast dtypes by device type (float16 autocast on the CPU is slow and needs a loss scaler)
AUTOCAST_DTYPES = {'cpu': ('bfloat16', ), 'cuda': ('float16', 'bfloat16')}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An :class:`~mmengine.optim.OptimWrapper` whose forward pass (``optim_context``) runs under
    ``torch.autocast(device_type, dtype)``, with no loss scaling.

    Meant for bfloat16 on the CPU, where mmengine's ``AmpOptimWrapper`` cannot run; gradient
    accumulation and clipping are the base wrapper's.

    Args:
        dtype (str | torch.dtype): the autocast dtype. Defaults to ``'bfloat16'``.
        device_type (str): the autocast device type. Defaults to ``'cpu'``.
        **kwargs: the arguments of :class:`~mmengine.optim.OptimWrapper` (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', device_type: str = 'cpu',
                 **kwargs):
        super().__init__(**kwargs)
        name = dtype if isinstance(dtype, str) else str(dtype).replace('torch.', '')
        allowed = AUTOCAST_DTYPES.get(device_type)
        if allowed is None or name not in allowed:
            raise ValueError(f'{type(self).__name__}: autocast on {device_type!r} supports '
                             f'dtype {allowed}, got {name!r}')
        self.device_type = device_type
        self.cast_dtype = getattr(torch, name)
        from .compat import repair_mmaction_bf16_scores
        repair_mmaction_bf16_scores()

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        """The base context (no gradient sync while accumulating) plus autocast."""
        with super().optim_context(model), torch.autocast(self.device_type,
                                                          dtype=self.cast_dtype):
            yield


def amp_optim_wrapper_cfg(optim_wrapper: dict, device: str,
                          dtype: Optional[str] = None) -> dict:
    """The ``optim_wrapper`` config for mixed precision on ``device``.

    Args:
        optim_wrapper (dict): the config's ``optim_wrapper`` (its ``optimizer``, ``clip_grad``,
            ``paramwise_cfg``... are kept).
        device (str): ``'cpu'`` or ``'cuda'`` (mmengine's ``get_device()``).
        dtype (str, optional): the autocast dtype; defaults to ``'bfloat16'`` on the CPU and
            mmengine's default (float16) on a GPU, or what ``optim_wrapper`` says.

    Returns:
        dict: a new config: ``AutocastOptimWrapper`` (bfloat16) on the CPU,
        ``AmpOptimWrapper`` (``loss_scale='dynamic'``) elsewhere.

    Raises:
        ValueError: float16 asked for on the CPU.
    """
    cfg = dict(optim_wrapper)
    wrapper = cfg.pop('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'AutocastOptimWrapper'):
        raise ValueError(f'--amp replaces OptimWrapper or AmpOptimWrapper, the config has '
                         f'{wrapper!r}')
    dtype = dtype or cfg.pop('dtype', None)
    cfg.pop('loss_scale', None)
    cfg.pop('device_type', None)
    if device == 'cpu':
        dtype = dtype or 'bfloat16'
        if dtype not in AUTOCAST_DTYPES['cpu']:
            raise ValueError(f'mixed precision on the CPU supports {AUTOCAST_DTYPES["cpu"]}, '
                             f'got dtype {dtype!r}')
        return dict(type='AutocastOptimWrapper', dtype=dtype, device_type='cpu', **cfg)
    out = dict(type='AmpOptimWrapper', loss_scale=optim_wrapper.get('loss_scale', 'dynamic'),
               **cfg)
    if dtype is not None:
        out['dtype'] = dtype
    return out
