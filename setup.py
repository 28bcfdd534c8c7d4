import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# OpenMMLab's convention for installable configs: mmengine resolves ``mmspike::path`` to
# ``<installed mmspike>/.mim/configs/path`` (after a look-up in ``.mim/model-index.yml``).
# ``configs/``, ``tools/`` and ``model-index.yml`` of the repository are
# linked there for a development install (so edits show at once) and copied for a wheel/sdist.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension():
    develop = any(cmd in sys.argv for cmd in ('develop', 'editable_wheel'))
    mim_dir = osp.join(HERE, 'mmspike', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if develop:
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'mmspike', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name):
    """The requirement lines of ``requirements/<name>`` (comments and blank lines dropped)."""
    with open(osp.join(HERE, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


# One extra per task codebase (``pip install "mmspike[action]"``); the version ranges are those of
# mmspike/engine/versions.py: SUPPORTED, checked again at import by the adapters.  The exact
# versions of the tested environment are in requirements/constraints.txt (tools/setup_env.sh).
EXTRAS = {name: read_requirements(f'{name}.txt') for name in ('action', 'pose', 'seg', 'tests')}
EXTRAS['all'] = EXTRAS['action'] + EXTRAS['pose'] + EXTRAS['seg']


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmspike',
        version=read_version(),
        description='Directly trained spiking video transformers for OpenMMLab',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
        include_package_data=True,
        package_data={'mmspike': ['ops/csrc/*.cpp', '.mim/model-index.yml', '.mim/configs/*.yml',
                                  '.mim/configs/**/*.py', '.mim/tools/*.py',
                                  '.mim/tools/*.sh', '.mim/tools/**/*.py']},
        python_requires='>=3.9',
        # Neither torch nor mmcv is required here: torch is chosen for the machine (CUDA or
        # CPU build), and mmcv is the user's choice between mmcv (compiled ops, needed by MMPose
        # and MMSegmentation) and mmcv-lite (enough for the core and MMAction2 recognition);
        # requirements/mminstall.txt names the range, and the adapters check it at import.
        install_requires=read_requirements('runtime.txt'),
        extras_require=EXTRAS,
        license='Apache License 2.0',
    )
