import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
# OpenMMLab's convention for installable configs and tools: mmengine resolves
# ``mmspike::path`` to ``<installed mmspike>/.mim/configs/path`` (after a look-up in
# ``.mim/model-index.yml``), and ``mim search / train / test / run mmspike`` read
# ``.mim/model-index.yml``, ``.mim/configs`` and ``.mim/tools`` (``demo/`` goes along when the
# tree has it, as in the other OpenMMLab codebases).
MIM_FILES = ('configs', 'tools', 'model-index.yml')
MIM_OPTIONAL = ('demo',)
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc')


def link_mim_files():
    """A development install (``pip install -e .``): link ``mmspike/.mim/<name>`` to the
    repository's ``configs/``, ``tools/``, ``model-index.yml`` and ``demo/``, so edits show at
    once."""
    mim_dir = osp.join(HERE, 'mmspike', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES + MIM_OPTIONAL:
        src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        os.symlink(osp.relpath(src, mim_dir), dst)


class BuildWithMimFiles(build_py):
    """``build_py`` that copies ``configs/``, ``tools/``, ``model-index.yml`` and ``demo/`` into
    the built package's ``.mim`` folder (wheels and regular installs); the source tree is not
    touched."""

    def run(self):
        super().run()
        if self.editable_mode:
            return
        mim_dir = osp.join(self.build_lib, 'mmspike', '.mim')
        if osp.isdir(mim_dir):
            shutil.rmtree(mim_dir)  # no file of a removed config stays behind from a last build
        os.makedirs(mim_dir)
        for name in MIM_FILES + MIM_OPTIONAL:
            src = osp.join(HERE, name)
            if name in MIM_OPTIONAL and not osp.exists(src):
                continue
            if not osp.exists(src):
                raise FileNotFoundError(f'{src} is missing: the package ships it in .mim')
            if osp.isfile(src):
                shutil.copyfile(src, osp.join(mim_dir, name))
            else:
                shutil.copytree(src, osp.join(mim_dir, name), ignore=MIM_IGNORE)


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
# mmspike/engine/versions.py: SUPPORTED, checked again at import by the adapters.  ``tools``: what
# the stock analysis tools and mim need.  The exact versions of the tested environment are in
# requirements/constraints.txt (tools/setup_env.sh).
EXTRAS = {name: read_requirements(f'{name}.txt')
          for name in ('action', 'pose', 'seg', 'tools', 'tests')}
EXTRAS['all'] = EXTRAS['action'] + EXTRAS['pose'] + EXTRAS['seg']


if __name__ == '__main__':
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        link_mim_files()
    setup(
        name='mmspike',
        version=read_version(),
        description='Directly trained spiking video transformers for OpenMMLab',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
        include_package_data=True,
        package_data={'mmspike': ['ops/csrc/*.cpp']},
        cmdclass={'build_py': BuildWithMimFiles},
        python_requires='>=3.9',
        # Neither torch nor mmcv is required here: torch is chosen for the machine (CUDA or
        # CPU build), and mmcv is the user's choice between mmcv (compiled ops, needed by MMPose
        # and MMSegmentation) and mmcv-lite (enough for the core and MMAction2 recognition);
        # requirements/mminstall.txt names the range, and the adapters check it at import.
        install_requires=read_requirements('runtime.txt'),
        extras_require=EXTRAS,
        license='Apache License 2.0',
    )
