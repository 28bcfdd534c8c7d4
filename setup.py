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
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [line.strip() for line in f
                if line.strip() and not line.startswith('#')]


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
        # torch and mmcv (with compiled ops) are installed by tools/setup_env.sh.
        install_requires=read_requirements('runtime.txt'),
        extras_require={'tests': read_requirements('tests.txt')},
        entry_points={'console_scripts': ['mmspike-compat = mmspike.engine.compat:main']},
        license='Apache License 2.0',
    )
