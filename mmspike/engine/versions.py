"""The versions of the OpenMMLab packages mmspike supports, checked where each is first needed.

:func:`check_core_versions` runs at ``import mmspike`` (mmengine, torch); each task adapter checks
its codebase (and mmcv) with :func:`check_versions` before importing it.  The error names the
installed and the supported versions.  The exact versions of the tested environment are pinned
in ``requirements/constraints.txt`` (used by ``tools/setup_env.sh``).
"""
from importlib import metadata
from typing import Dict, Optional, Tuple

#: distribution name -> (minimum version, first unsupported version or None)
SUPPORTED: Dict[str, Tuple[str, Optional[str]]] = {
    'torch': ('2.0.0', None),
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.0.0', '2.2.0'),
    'mmaction2': ('1.2.0', '2.0.0'),
    'mmpose': ('1.3.0', '2.0.0'),
    'mmsegmentation': ('1.2.0', '2.0.0'),
    'mmdet': ('3.0.0', '4.0.0'),
    'spikingjelly': ('2.0.0', None),
}

#: module names whose distribution is named differently
MODULE_OF = {'mmaction2': 'mmaction', 'mmsegmentation': 'mmseg'}


class UnsupportedVersionError(ImportError):
    """An installed package is outside the versions mmspike supports."""


def version_tuple(version: str) -> Tuple[int, ...]:
    """``'2.14.1+cpu'`` -> ``(2, 14, 1)``; ``'1.2.0rc1'`` -> ``(1, 2, 0)`` (the first three
    numeric release fields, missing ones as 0)."""
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def installed_version(dist: str) -> Optional[str]:
    """The installed version of distribution ``dist`` (``mmcv-lite`` counts as ``mmcv``), or
    None when it is not installed."""
    names = (dist, 'mmcv-lite') if dist == 'mmcv' else (dist,)
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def supported_range(dist: str) -> str:
    low, high = SUPPORTED[dist]
    return f'>={low}' + (f',<{high}' if high else '')


def check_versions(*dists: str, needed_by: str = 'mmspike') -> Dict[str, str]:
    """Raise :class:`UnsupportedVersionError` if one of ``dists`` is missing or outside
    :data:`SUPPORTED`; return ``{dist: installed version}``."""
    found = {}
    for dist in dists:
        version = installed_version(dist)
        low, high = SUPPORTED[dist]
        if version is None:
            raise UnsupportedVersionError(
                f'{needed_by} needs {dist}{supported_range(dist)}, which is not installed '
                f'(pip install "{dist}{supported_range(dist)}")')
        v = version_tuple(version)
        if v < version_tuple(low) or (high is not None and v >= version_tuple(high)):
            raise UnsupportedVersionError(
                f'{needed_by} supports {dist}{supported_range(dist)}, but {dist} {version} is '
                f'installed (pip install "{dist}{supported_range(dist)}")')
        found[dist] = version
    return found


def check_core_versions() -> Dict[str, str]:
    """The packages the task-agnostic core imports: torch and mmengine."""
    return check_versions('torch', 'mmengine', needed_by='mmspike')
