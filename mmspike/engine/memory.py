"""Process memory readings (Linux ``/proc``), shared by streaming inference and the benchmarks."""
import os
import resource
import sys
from typing import Optional


def proc_status_kib(field: str) -> int:
    """A memory field of ``/proc/self/status`` in KiB, e.g. ``'VmRSS'`` (resident now) or
    ``'VmHWM'`` (the peak resident set size)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not found in /proc/self/status')


def current_rss() -> Optional[float]:
    """The process's resident set size now, in bytes (None where /proc is missing)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


def peak_rss() -> float:
    """The process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) if sys.platform == 'darwin' else float(peak) * 1024


#: Optimizer state per parameter, in parameter sizes: AdamW/Adam keep two moments, SGD with
#: momentum one buffer.
OPTIMIZER_STATE_FACTORS = {'AdamW': 2, 'Adam': 2, 'SGD': 1, None: 0}


def plan_training_memory(step_peak_at_batch_1: float, grad_bytes: float, param_bytes: float,
                         batch: int, budget_bytes: Optional[float] = None,
                         optimizer: Optional[str] = 'AdamW') -> dict:
    """The memory of a training step at ``batch`` clips, from one step measured at batch 1.

    A step's peak over the built model (what ``tools/benchmark_memory.py`` measures) is the
    parameter gradients, which do not depend on the batch, plus the activations kept for
    backward and the working tensors, which grow in proportion to it:
    ``step(b) = G + b * (step(1) - G)``.  Training also holds the parameters ``P`` and the
    optimizer's state (``k * P``, :data:`OPTIMIZER_STATE_FACTORS`):
    ``total(b) = P + k * P + step(b)``; the largest batch within a budget ``M`` is
    ``floor((M - P - k * P - G) / (step(1) - G))``.

    Returns a dict with ``step_bytes`` (the predicted step peak), ``total_bytes``,
    ``per_clip_bytes`` and, given a budget, ``largest_batch`` (0 when not even one clip fits).
    """
    if optimizer not in OPTIMIZER_STATE_FACTORS:
        raise ValueError(f'unknown optimizer {optimizer!r}; expected one of '
                         f'{sorted(k for k in OPTIMIZER_STATE_FACTORS if k)} or None')
    if batch < 1:
        raise ValueError(f'batch must be >= 1, got {batch}')
    per_clip = step_peak_at_batch_1 - grad_bytes
    if per_clip <= 0:
        raise ValueError(f'the step at batch 1 ({step_peak_at_batch_1:.0f} B) is not larger '
                         f'than the gradients ({grad_bytes:.0f} B): not a training step')
    fixed = param_bytes * (1 + OPTIMIZER_STATE_FACTORS[optimizer]) + grad_bytes
    plan = dict(step_bytes=grad_bytes + batch * per_clip, per_clip_bytes=per_clip,
                total_bytes=fixed + batch * per_clip)
    if budget_bytes is not None:
        plan['largest_batch'] = max(0, int((budget_bytes - fixed) // per_clip))
    return plan
