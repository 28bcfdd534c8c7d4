"""Shared test set-up."""
import pytest
from mmengine.registry import DefaultScope


def _drop_scopes_created_since(before):
    for name in [n for n in DefaultScope._instance_dict if n not in before]:
        DefaultScope._instance_dict.pop(name)


@pytest.fixture(autouse=True, scope='module')
def keep_default_scope_per_module():
    """As :func:`keep_default_scope_per_test`, for the module-scoped fixtures (which run before
    any function-scoped fixture): the scopes they create end with the module."""
    before = set(DefaultScope._instance_dict)
    yield
    _drop_scopes_created_since(before)


@pytest.fixture(autouse=True)
def keep_default_scope_per_test():
    """Each Runner (and ``init_default_scope``) creates an mmengine ``DefaultScope`` instance, and
    the newest instance is the default scope of every later registry build in the process.
    Remove the instances a test created, so that one test's codebase scope (e.g. ``mmpose``)
    does not decide where the next test's unscoped names are looked up."""
    before = set(DefaultScope._instance_dict)
    yield
    _drop_scopes_created_since(before)


@pytest.fixture(scope='module')
def demo_checkpoints(tmp_path_factory):
    """Random-weight checkpoints of the three demo configs, by task ('action', 'pose', 'seg')
    (:func:`video_fixtures.random_checkpoint`), for the tests of the video inferencers and
    ``demo/video_demo.py``."""
    from video_fixtures import DEMO_CONFIGS, random_checkpoint
    root = tmp_path_factory.mktemp('checkpoints')
    return {task: random_checkpoint(config, root / f'{task}.pth')
            for task, config in DEMO_CONFIGS.items()}
