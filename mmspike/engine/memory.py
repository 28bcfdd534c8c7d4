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
