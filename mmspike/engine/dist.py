"""Distributed training on any device: the process group, SyncBN over any backend, and steps
that one process does for all of them.

* :func:`backend_for_device` / :func:`init_dist_pytorch` - the ``pytorch`` launcher (torchrun)
  without CUDA: a config's ``dist_cfg.backend='nccl'`` becomes ``'gloo'`` and CUDA is never
  touched (:mod:`mmspike.engine.compat` installs :func:`init_dist_pytorch` in mmengine).
* :func:`init_distributed` - ``tools/train.py`` and ``tools/test.py`` start the process group
  before the Runner (which then skips its own initialisation), so that the embedded dataset can
  be prepared by one process behind a barrier (:func:`run_on_local_rank_zero`).
* :class:`AllReduceSyncBatchNorm` and :func:`convert_sync_batchnorm` - synchronised BatchNorm
  built on ``torch.distributed.nn.functional.all_reduce``, so it runs with gloo on the CPU
  (torch's ``nn.SyncBatchNorm`` accepts GPU tensors only).  Enabled by ``sync_bn='torch'``
  (mmengine's config key) on a CPU run, or ``sync_bn='mmspike'`` on any device.
"""
import os
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['backend_for_device', 'init_dist_pytorch', 'init_distributed',
           'run_on_local_rank_zero', 'AllReduceSyncBatchNorm', 'convert_sync_batchnorm',
           'SYNC_BN_CHOICES']

#: communication backends that need CUDA devices
CUDA_BACKENDS = ('nccl', )
#: ``sync_bn`` values: torch's SyncBatchNorm (mmspike's on the CPU), mmcv's, mmspike's
SYNC_BN_CHOICES = ('torch', 'mmcv', 'mmspike')


def backend_for_device(requested: str, cuda_available: bool) -> str:
    """The communication backend to use: ``requested``, except a CUDA-only backend (nccl) on a
    machine without CUDA, which becomes ``'gloo'``.

    Args:
        requested (str): the backend the config asks for (``dist_cfg.backend``).
        cuda_available (bool): whether this process sees a CUDA device.

    Returns:
        str: the backend name.
    """
    if not cuda_available and str(requested).lower() in CUDA_BACKENDS:
        return 'gloo'
    return requested


def _log_rank_zero(message: str) -> None:
    if int(os.environ.get('RANK', '0')) == 0:
        from mmengine.logging import print_log
        print_log(message, logger='current')


def init_dist_pytorch(backend: str = 'nccl', init_backend: str = 'torch',
                      original: Optional[Callable] = None, **kwargs) -> None:
    """mmengine's ``_init_dist_pytorch`` that works without CUDA.

    With a CUDA device (or another accelerator mmengine knows, or another ``init_backend``) it
    calls mmengine's own function ``original``.  Without one it starts the process group with
    :func:`backend_for_device`'s backend and does not call ``torch.cuda.set_device`` (which
    raises "Found no NVIDIA driver" on a CPU machine).  The backend is logged.

    Args:
        backend (str): the config's ``dist_cfg.backend``. Defaults to ``'nccl'``.
        init_backend (str): ``'torch'``, ``'deepspeed'`` or ``'colossalai'``.
            Defaults to ``'torch'``.
        original (callable, optional): mmengine's function, for the accelerator case.
        **kwargs: passed to ``torch.distributed.init_process_group``.
    """
    from mmengine.device import is_mlu_available, is_musa_available, is_npu_available
    accelerator = (torch.cuda.is_available() or is_mlu_available() or is_npu_available()
                   or is_musa_available())
    if (accelerator or init_backend != 'torch') and original is not None:
        original(backend, init_backend=init_backend, **kwargs)
        _log_rank_zero(f'mmspike: torch.distributed backend {backend!r}')
        return
    chosen = backend_for_device(backend, cuda_available=torch.cuda.is_available())
    torch.distributed.init_process_group(backend=chosen, **kwargs)
    note = '' if chosen == backend else f' (the config asks for {backend!r}; no CUDA device)'
    _log_rank_zero(f'mmspike: torch.distributed backend {chosen!r}{note}')


def init_distributed(launcher: str, dist_cfg: Optional[dict] = None) -> Optional[str]:
    """Start the process group of ``launcher`` now, as mmengine's Runner would later (it skips
    its own initialisation when the group exists).

    Args:
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        dist_cfg (dict, optional): the config's ``env_cfg.dist_cfg``. Defaults to None.

    Returns:
        str | None: the backend in use, or None for ``launcher='none'``.
    """
    if launcher == 'none':
        return None
    from mmengine.dist import init_dist, is_distributed
    if not is_distributed():
        init_dist(launcher, **dict(dist_cfg or {}))
    return torch.distributed.get_backend()


def run_on_local_rank_zero(fn: Callable, what: str):
    """Run ``fn()`` on local rank 0 only; the other processes wait at a collective until it has
    finished (a barrier, without polling the file system).  If ``fn`` raises on some node, every
    process raises: the others with a RuntimeError naming ``what``.  Without a process group
    ``fn()`` simply runs.

    Returns:
        The value of ``fn()`` on local rank 0, None elsewhere.
    """
    from mmengine.dist import all_reduce, is_distributed
    if not is_distributed():
        return fn()
    result, error = None, None
    if int(os.environ.get('LOCAL_RANK', '0')) == 0:
        try:
            result = fn()
        except Exception as exc:  # re-raised below, after the others are released
            error = exc
    failed = torch.tensor([0.0 if error is None else 1.0])
    all_reduce(failed)  # the barrier: every process waits here for the writers
    if error is not None:
        raise error
    if failed.item() > 0:
        raise RuntimeError(f'{what} failed on local rank 0 of {int(failed.item())} node(s); '
                           f'see its log')
    return result


class AllReduceSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (all processes),
    for any input shape ``[N, C, *]`` and any backend (gloo on the CPU included).

    In training mode with more than one process the per-channel sums are added over processes
    with ``torch.distributed.nn.functional.all_reduce`` (autograd-aware: the backward adds the
    gradients reaching the statistics over processes, so the gradients equal those of one
    process on the whole batch), first the sums and counts (mean), then the squared deviations
    from that mean (variance, as a two-pass BatchNorm computes it).  In eval mode, or in a
    single process, it is an ordinary BatchNorm.  The running variance is the unbiased global
    one, as :class:`torch.nn.SyncBatchNorm` keeps it.

    Args:
        num_features (int): channels ``C``.
        eps, momentum, affine, track_running_stats: as :class:`torch.nn.BatchNorm2d`.
        process_group (ProcessGroup, optional): the group to synchronise over. Defaults to
            None (all processes).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f'{type(self).__name__} expects [N, C, *] input, got '
                             f'{input.dim()}-D shape {tuple(input.shape)}')

    def _world_size(self) -> int:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return 1
        return torch.distributed.get_world_size(self.process_group)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training or self._world_size() == 1:
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce
        group = self.process_group or torch.distributed.group.WORLD
        x = input.float()  # statistics in float32 also for bf16 / fp16 activations
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_full((1, ), x.numel() // max(x.shape[1], 1))
        sums = all_reduce(torch.cat([x.sum(dims), count]), group=group)
        total = sums[-1]
        if total.item() <= 1:
            raise ValueError(f'{type(self).__name__}: expected more than 1 value per channel '
                             f'over all processes when training, got {int(total.item())} '
                             f'(input shape {tuple(input.shape)} on this process)')
        mean = sums[:-1] / total
        centred = x - mean.view(shape)
        var = all_reduce(centred.square().sum(dims), group=group) / total
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * total / (total - 1))
        return y.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = (1.0 / self.num_batches_tracked.item() if self.momentum is None
                  else self.momentum)
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased_var.to(self.running_var.dtype),
                                               alpha=factor)


def convert_sync_batchnorm(module: nn.Module, process_group=None) -> nn.Module:
    """Replace every BatchNorm in ``module`` (``BatchNorm1d/2d/3d``, torch's ``SyncBatchNorm``,
    the ``bn`` of mmspike's per-time-step BatchNorms and of the heads) by an
    :class:`AllReduceSyncBatchNorm` that shares its parameters and copies its buffers and
    training mode.

    Args:
        module (nn.Module): the model (changed in place where possible).
        process_group (ProcessGroup, optional): passed to the new layers. Defaults to None.

    Returns:
        nn.Module: ``module``, or its replacement when ``module`` itself is a BatchNorm.
    """
    if isinstance(module, _BatchNorm) and not isinstance(module, AllReduceSyncBatchNorm):
        new = AllReduceSyncBatchNorm(module.num_features, module.eps, module.momentum,
                                     module.affine, module.track_running_stats, process_group)
        if module.affine:
            new.weight = module.weight
            new.bias = module.bias
        if module.track_running_stats:
            new.running_mean = module.running_mean
            new.running_var = module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child, process_group)
        if converted is not child:
            module.add_module(name, converted)
    return module


def sync_batchnorm_for(module: nn.Module, implementation: str,
                       mmengine_convert: Callable) -> nn.Module:
    """The conversion behind the config key ``sync_bn``: ``'mmspike'``, or ``'torch'`` on a model
    whose parameters are on the CPU (torch's SyncBatchNorm refuses CPU tensors), use
    :func:`convert_sync_batchnorm`; otherwise mmengine's ``mmengine_convert``.

    Raises:
        ValueError: an ``implementation`` not in :data:`SYNC_BN_CHOICES`.
    """
    if implementation not in SYNC_BN_CHOICES:
        raise ValueError(f'sync_bn must be one of {SYNC_BN_CHOICES}, got {implementation!r}')
    param = next(module.parameters(), None)
    on_cpu = param is None or param.device.type == 'cpu'
    if implementation == 'mmspike' or (implementation == 'torch' and on_cpu):
        return convert_sync_batchnorm(module)
    return mmengine_convert(module, implementation)


def cpu_model_wrapper_cfg(model_wrapper_cfg: Optional[dict],
                          find_unused_parameters: bool = False) -> dict:
    """The ``model_wrapper_cfg`` for DistributedDataParallel on the CPU: mmengine's defaults
    (``MMDistributedDataParallel``, ``broadcast_buffers=False``) with ``device_ids=None``
    (mmengine passes ``[LOCAL_RANK]``, which DDP refuses for a CPU module).  A given config
    keeps its entries; its ``device_ids`` is set only when it has none."""
    if model_wrapper_cfg is None:
        return dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                    find_unused_parameters=find_unused_parameters, device_ids=None)
    cfg = dict(model_wrapper_cfg)
    cfg.setdefault('device_ids', None)
    return cfg
