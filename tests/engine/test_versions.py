"""The supported version ranges (:mod:`mmspike.engine.versions`): an unsupported version is
refused with an error naming the installed and the supported versions, ``import mmspike`` and
the task adapters check before they import a codebase, and the packaging files state the same
ranges."""
import os.path as osp
import subprocess
import sys

import pytest
from helpers import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mmspike.engine import versions
from mmspike.engine.versions import SUPPORTED, supported_range, version_tuple

check_versions = versions.check_versions
UnsupportedVersionError = versions.UnsupportedVersionError


@pytest.mark.parametrize('version,expected', [('2.14.1+cpu', (2, 14, 1)),
                                              ('1.2.0rc1', (1, 2, 0)),
                                              ('0.10', (0, 10, 0)),
                                              ('3', (3, 0, 0)),
                                              ('2.0.0.post1', (2, 0, 0))])
def test_version_tuple(version, expected):
    assert version_tuple(version) == expected


def fake_installed(monkeypatch, **found):
    """Make ``installed_version`` report ``found`` (distribution -> version or None)."""
    monkeypatch.setattr(versions, 'installed_version', lambda dist: found[dist])


def just_below(version):
    """The highest ``X.Y.99``-style release below ``version``: ``'1.0.0'`` -> ``'0.99.99'``."""
    major, minor, patch = version_tuple(version)
    if patch:
        return f'{major}.{minor}.{patch - 1}'
    if minor:
        return f'{major}.{minor - 1}.99'
    return f'{major - 1}.99.99'


@pytest.mark.parametrize('dist', sorted(SUPPORTED))
def test_versions_in_the_range_pass(dist, monkeypatch):
    low, high = SUPPORTED[dist]
    fake_installed(monkeypatch, **{dist: low})
    assert check_versions(dist) == {dist: low}
    if high is not None:
        last = just_below(high) + '+local'
        fake_installed(monkeypatch, **{dist: last})
        assert check_versions(dist, needed_by='x') == {dist: last}


@pytest.mark.parametrize('dist', sorted(SUPPORTED))
def test_unsupported_version_names_installed_and_supported(dist, monkeypatch):
    low, high = SUPPORTED[dist]
    for version in [just_below(low)] + ([high] if high else []):
        fake_installed(monkeypatch, **{dist: version})
        with pytest.raises(UnsupportedVersionError) as error:
            check_versions(dist, needed_by='mmspike.test')
        message = str(error.value)
        assert f'{dist} {version} is installed' in message, message
        assert f'{dist}>={low}' in message, message
        if high is not None:
            assert f'<{high}' in message, message
        assert 'mmspike.test' in message, message


def test_missing_package_names_the_supported_range(monkeypatch):
    fake_installed(monkeypatch, mmengine='0.10.7', mmpose=None)
    with pytest.raises(UnsupportedVersionError, match=r'mmpose>=1\.3\.0,<2\.0\.0.*not installed'):
        check_versions('mmengine', 'mmpose', needed_by='mmspike.pose')


def test_mmcv_lite_counts_as_mmcv(monkeypatch):
    from importlib import metadata

    def version(name):
        if name == 'mmcv-lite':
            return '2.1.0'
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(versions.metadata, 'version', version)
    assert versions.installed_version('mmcv') == '2.1.0'
    assert versions.installed_version('mmpose') is None


# ---- import mmspike and the adapters check before importing a codebase ---------------------------

IMPORT_WITH_FAKE_VERSION = '''
import sys
from importlib import metadata

real = metadata.version
metadata.version = lambda name: {version!r} if name == {dist!r} else real(name)
try:
    import {module}
except ImportError as error:
    print(type(error).__name__)
    print(error)
else:
    print('imported')
print(sorted(m for m in ('mmaction', 'mmpose', 'mmseg', 'mmdet') if m in sys.modules))
'''

#: what imports what: (module, distribution it checks, the codebase it would import)
CHECKS = [('mmspike', 'mmengine', None), ('mmspike', 'torch', None),
          ('mmspike.action', 'mmaction2', 'mmaction'), ('mmspike.action', 'mmcv', 'mmaction'),
          ('mmspike.pose', 'mmpose', 'mmpose'), ('mmspike.seg', 'mmsegmentation', 'mmseg')]


def import_with(module, dist, version):
    code = IMPORT_WITH_FAKE_VERSION.format(module=module, dist=dist, version=version)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


@pytest.mark.parametrize('module,dist,codebase', CHECKS)
def test_import_refuses_an_unsupported_version_before_importing_the_codebase(
        module, dist, codebase):
    version = just_below(SUPPORTED[dist][0])
    out = import_with(module, dist, version)
    assert out[0] == 'UnsupportedVersionError', out
    assert f'{dist} {version} is installed' in out[1], out
    assert f'{dist}{supported_range(dist)}' in out[1], out
    assert module in out[1], out   # names who needs it
    assert out[-1] == '[]', f'{module} imported {out[-1]} before checking {dist}'


@pytest.mark.parametrize('module,dist,codebase', CHECKS)
def test_import_accepts_a_supported_version(module, dist, codebase):
    """The same harness with a version inside the range imports the module (and its codebase)."""
    out = import_with(module, dist, SUPPORTED[dist][0])
    assert out[0] == 'imported', out
    if codebase is not None:
        assert codebase in out[-1], out


# ---- the packaging files state the ranges of SUPPORTED -----------------------------------------


def read_requirements(name):
    with open(osp.join(REPO, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [Requirement(line) for line in lines if line]


REQUIREMENT_FILES = ('runtime.txt', 'action.txt', 'pose.txt', 'seg.txt', 'mminstall.txt')


def test_requirement_ranges_are_those_of_supported():
    stated = {}
    for name in REQUIREMENT_FILES:
        for req in read_requirements(name):
            if req.name in SUPPORTED:
                assert req.specifier == SpecifierSet(supported_range(req.name)), (
                    f'requirements/{name}: {req} but mmspike/engine/versions.py supports '
                    f'{req.name}{supported_range(req.name)}')
                stated[req.name] = name
    # torch is chosen for the machine (CUDA or CPU build), so no requirement file names it
    assert set(stated) == set(SUPPORTED) - {'torch'}, stated
    # mmcv or mmcv-lite is the user's choice: the core's requirements name neither
    assert stated['mmcv'] == 'mminstall.txt'
    runtime = {req.name for req in read_requirements('runtime.txt')}
    assert not runtime & {'torch', 'mmcv', 'mmcv-lite', 'mmaction2', 'mmpose', 'mmsegmentation',
                          'mmdet'}, runtime


def test_tested_pins_lie_in_the_supported_ranges():
    pins = {req.name: str(req.specifier) for req in read_requirements('constraints.txt')}
    for dist in SUPPORTED:
        assert pins.get(dist, '').startswith('=='), f'constraints.txt pins no {dist}: {pins}'
        assert SpecifierSet(supported_range(dist)).contains(pins[dist][2:]), (dist, pins[dist])
    assert pins['mmcv-lite'] == pins['mmcv']
