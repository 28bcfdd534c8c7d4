"""``docs/layout.md`` is the map of the tree: every registered class, config and tool of
mmspike is listed there, in the folder where it lives."""
import glob
import importlib
import inspect
import os.path as osp
import re

import pytest
from helpers import REPO

LAYOUT = osp.join(REPO, 'docs', 'layout.md')
CELL_NAME = re.compile(r'`([^`]+)`')


def table_rows(section: str):
    """The rows of the first Markdown table under the heading ``## <section>``, as lists of
    cell texts (the header and separator rows left out)."""
    text = open(LAYOUT).read()
    match = re.search(rf'^## {re.escape(section)}\s*$(.*?)(?=^## |\Z)', text, re.M | re.S)
    assert match, f'docs/layout.md has no section "## {section}"'
    rows = [line for line in match.group(1).splitlines() if line.startswith('|')]
    return [[cell.strip() for cell in row.strip('|').split('|')] for row in rows[2:]]


def mapped_classes():
    """``{class name: folder}`` from the "Registered classes" table."""
    mapping = {}
    for folder, _, _, names in table_rows('Registered classes'):
        folder = CELL_NAME.findall(folder)[0]
        for name in CELL_NAME.findall(names):
            assert name not in mapping, f'{name} is listed twice in docs/layout.md'
            mapping[name] = folder
    return mapping


def registered_classes():
    """``{registered name: defining module}`` of every mmspike object in mmengine's root
    registries and in the registries of MMAction2, MMPose and MMSeg."""
    for adapter in ('mmspike', 'mmspike.action', 'mmspike.pose', 'mmspike.seg'):
        importlib.import_module(adapter)
    import mmengine.registry as root
    registries = [obj for obj in vars(root).values() if isinstance(obj, root.Registry)]
    for codebase in ('mmaction', 'mmpose', 'mmseg'):
        module = importlib.import_module(f'{codebase}.registry')
        registries += [obj for obj in vars(module).values() if isinstance(obj, root.Registry)]
    found = {}
    for registry in registries:
        for name, obj in registry.module_dict.items():
            module = getattr(obj, '__module__', '') or ''
            if module == 'mmspike' or module.startswith('mmspike.'):
                found.setdefault(name, module)
    return found


def test_every_registered_class_lives_where_the_map_says():
    mapping = mapped_classes()
    registered = registered_classes()
    assert len(registered) > 40, registered
    unlisted = sorted(set(registered) - set(mapping))
    assert not unlisted, f'registered but not in docs/layout.md: {unlisted}'
    stale = sorted(set(mapping) - set(registered))
    assert not stale, f'in docs/layout.md but not registered: {stale}'
    misplaced = []
    for name, module in registered.items():
        path = inspect.getsourcefile(importlib.import_module(module))
        relative = osp.relpath(path, REPO).replace(osp.sep, '/')
        folder = mapping[name].rstrip('/') + '/'
        if not (relative.startswith(folder) or relative == mapping[name]):
            misplaced.append(f'{name}: {relative}, map says {mapping[name]}')
    assert not misplaced, misplaced


def test_map_lists_every_config_and_tool():
    listed = {CELL_NAME.findall(row[0])[0] for row in table_rows('Configs')}
    shipped = {osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*.py'))}
    assert listed == shipped, (sorted(shipped - listed), sorted(listed - shipped))
    listed = {CELL_NAME.findall(row[0])[0] for row in table_rows('Tools')}
    shipped = {osp.relpath(p, REPO) for pattern in ('*.py', '*.sh', '*/*.py')
               for p in glob.glob(osp.join(REPO, 'tools', pattern))}
    assert listed == shipped, (sorted(shipped - listed), sorted(listed - shipped))


@pytest.mark.parametrize('package', ['mmspike'])
def test_every_folder_of_the_package_is_in_the_map(package):
    folders = {CELL_NAME.findall(row[0])[0].rstrip('/') for row in table_rows('Folders')}
    root = osp.join(REPO, package)
    actual = {osp.relpath(d, REPO) for d in glob.glob(osp.join(root, '**', ''), recursive=True)
              if glob.glob(osp.join(d, '*.py')) and '.mim' not in d}
    actual = {d.rstrip('/') for d in actual}
    assert actual == folders, (sorted(actual - folders), sorted(folders - actual))
