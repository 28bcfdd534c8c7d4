"""Checkpoints: safe loading (weights_only with the runner allowlist, malicious pickles refused),
exact resume, atomic saves (kill during a save), and the bad-checkpoint errors."""
import argparse
import fractions
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmspike  # noqa: F401
from helpers import REPO, shrink_action_config
from mmspike.engine import checkpoint as mckpt
from mmspike.engine import compat
from mmspike.engine.runner import merge_train_args
from mmspike.datasets.synthetic.motion_clips import write_dataset

DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')
FRAMES, SIZE = 8, 32

compat.apply()  # as the tools and the task adapters do: mmengine loads through the safe loader


class _RunsShell:
    """Pickles as a call of ``os.system`` - what a malicious checkpoint does."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


class _ReadsAttribute:
    """Pickles as ``getattr(HistoryBuffer, '__init__')`` - getattr beyond the statistics."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'x': _RunsShell(f'touch {marker}')}, path)
    with pytest.raises(mckpt.UnsafeCheckpointError) as info:
        _load_checkpoint(str(path))  # mmengine's entry point: load_from, resume, tools/test.py
    message = str(info.value)
    assert f"'{os.system.__module__}.system'" in message, message  # 'posix.system' on Linux
    assert str(path) in message and 'MMSPIKE_TRUST_CHECKPOINTS=1' in message, message
    assert not marker.exists()
    # the allowlist was only in force during the load
    assert not any('HistoryBuffer' in str(g) for g in torch.serialization.get_safe_globals())


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    from mmengine.logging import HistoryBuffer
    good, bad = tmp_path / 'good.pth', tmp_path / 'bad.pth'
    torch.save({'m': HistoryBuffer.min}, good)  # pickled as getattr(HistoryBuffer, 'min')
    assert mckpt.load_checkpoint_file(str(good))['m'] is HistoryBuffer.min
    torch.save({'m': _ReadsAttribute()}, bad)
    with pytest.raises(mckpt.UnsafeCheckpointError, match=r"getattr\(.*HistoryBuffer.*'__init__'"):
        mckpt.load_checkpoint_file(str(bad))


def test_trusted_opt_out(tmp_path, monkeypatch):
    path = tmp_path / 'legacy.pth'
    torch.save({'ratio': fractions.Fraction(1, 3)}, path)
    with pytest.raises(mckpt.UnsafeCheckpointError, match="'fractions.Fraction'"):
        mckpt.load_checkpoint_file(str(path))
    with mckpt.trusted_checkpoints():
        assert mckpt.load_checkpoint_file(str(path))['ratio'] == fractions.Fraction(1, 3)
    monkeypatch.setenv(mckpt.TRUST_ENV, '1')
    assert mckpt.load_checkpoint_file(str(path))['ratio'] == fractions.Fraction(1, 3)


def test_allowlist_names_cover_numpy_1_and_2_pickles():
    names = set(mckpt.allowed_global_names())
    for name in ('numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
                 'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar',
                 'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer'):
        assert name in names, name
    assert not any('system' in n or 'eval' in n or n == 'builtins.exec' for n in names)


def test_atomic_write_replaces_whole_and_cleans_stale_temporaries(tmp_path):
    target = tmp_path / 'iter_1.pth'
    stale = tmp_path / '.iter_1.pth.abc123.tmp'
    stale.write_bytes(b'partial')
    mckpt.atomic_save({'a': torch.arange(3)}, str(target))
    assert torch.equal(mckpt.load_checkpoint_file(str(target))['a'], torch.arange(3))
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']
    assert (target.stat().st_mode & 0o777) == (0o666 & ~_umask())

    def fail(f):
        f.write(b'half')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        mckpt.atomic_write(str(target), fail)
    assert torch.equal(mckpt.load_checkpoint_file(str(target))['a'], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- runner-level tests on a tiny SVFormer ---------------------------------------------------


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ckpt_clips'))
    write_dataset(root, train_per_class=1, val_per_class=1, test_per_class=1,
                  num_frames=FRAMES, size=SIZE, seed=0)
    return root


def tiny_cfg(root, work_dir, max_iters, num_classes=8, interval=1, validate=False):
    """The SVFormer demo on ``root``: 8 frames of 32 x 32, drop-path 0.2 (so the RNG matters),
    batches of 2, iteration-based with a linear warm-up, deterministic; no validation, or with
    ``validate`` one after every iteration on a single batch of 2 clips."""
    cfg = shrink_action_config(Config.fromfile(DEMO), root, FRAMES, SIZE, batch_size=2)
    cfg.model.backbone.drop_path_rate = 0.2
    cfg.model.cls_head.num_classes = num_classes
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=1 if validate else 1000)
    if validate:
        cfg.val_dataloader.dataset.indices = 2
    else:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    # the same schedule whatever max_iters, so that a run stopped early is a prefix of a longer one
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=6)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=interval,
                                        by_epoch=False, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.log_level = 'WARNING'
    cfg.work_dir = str(work_dir)
    return cfg


def _assert_same(a, b, where):
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), (where, sorted(a), sorted(b))
        for key in a:
            _assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{where}[{i}]')
    else:
        assert a == b, (where, a, b)


def test_resume_is_bit_identical_to_an_uninterrupted_run(clips, tmp_path):
    """4 iterations straight == 2, stop, resume, 2 more: parameters (PLIF w included), optimizer,
    scheduler and RNG states equal bit for bit; the run crosses an epoch (4 batches/epoch)."""
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    Runner.from_cfg(tiny_cfg(clips, straight, max_iters=6)).train()
    Runner.from_cfg(tiny_cfg(clips, split, max_iters=3)).train()
    cfg = tiny_cfg(clips, split, max_iters=6)
    cfg.resume = True  # auto-resume from work_dir/last_checkpoint, as `tools/train.py --resume`
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 6
    a = mckpt.load_checkpoint_file(str(straight / 'iter_6.pth'))
    b = mckpt.load_checkpoint_file(str(split / 'iter_6.pth'))
    plif = [k for k in a['state_dict'] if k.endswith('.w')]
    assert plif, 'expected PLIF neurons with a learnable w'
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'rng_state'):
        _assert_same(a[key], b[key], key)
    # the training did move the neurons' w, so the comparison above is not of initial values
    fresh = Runner.from_cfg(tiny_cfg(clips, tmp_path / 'fresh', max_iters=1)).model.state_dict()
    assert any(not torch.equal(fresh[k], a['state_dict'][k]) for k in plif)


def test_resume_without_rng_restore_differs(clips, tmp_path):
    """Control for the test above: without RNGStateHook the resumed run is not identical
    (drop-path draws differ), so the hook is what makes it exact."""
    def cfg_for(work_dir, max_iters):
        cfg = tiny_cfg(clips, work_dir, max_iters)
        cfg.default_hooks.pop('rng_state')
        return cfg

    Runner.from_cfg(cfg_for(tmp_path / 'straight', 4)).train()
    Runner.from_cfg(cfg_for(tmp_path / 'split', 2)).train()
    cfg = cfg_for(tmp_path / 'split', 4)
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    a = mckpt.load_checkpoint_file(str(tmp_path / 'straight' / 'iter_4.pth'))['state_dict']
    b = mckpt.load_checkpoint_file(str(tmp_path / 'split' / 'iter_4.pth'))['state_dict']
    assert any(not torch.equal(a[k], b[k]) for k in a)


_SLOW_SAVE = '''
import os, runpy, time
import mmspike.engine.checkpoint as ckpt
original, save, calls, target = ckpt._write_checkpoint, ckpt.atomic_save, [], ['']

def named_save(checkpoint, filename):  # remember which file the next write is for
    target[0] = os.path.basename(filename)
    return save(checkpoint, filename)

def slow_write(checkpoint, f):  # the {nth}th save of a file named like *{match}* stops half-way
    if {match!r} in target[0]:
        calls.append(1)
    if len(calls) < {nth} or {match!r} not in target[0]:
        return original(checkpoint, f)
    import io
    buf = io.BytesIO()
    original(checkpoint, buf)
    data = buf.getvalue()
    f.write(data[:len(data) // 2])
    f.flush()
    open({marker!r}, 'w').close()
    time.sleep(120)
    f.write(data[len(data) // 2:])

ckpt.atomic_save, ckpt._write_checkpoint = named_save, slow_write
runpy.run_path({train!r}, run_name='__main__')  # tools/train.py with this process's arguments
'''


def _kill_during_slow_save(cfg_path, work_dir, tmp_path, env, match='', nth=2):
    """Run ``tools/train.py CONFIG --work-dir WORK_DIR`` with the ``nth`` save of a checkpoint
    whose name contains ``match`` stopped half-way (:data:`_SLOW_SAVE`), and kill -9 it there."""
    marker = tmp_path / 'inside_slow_save'
    code = _SLOW_SAVE.format(train=osp.join(REPO, 'tools', 'train.py'), marker=str(marker),
                             match=match, nth=nth)
    proc = subprocess.Popen([sys.executable, '-c', code, str(cfg_path), '--work-dir',
                             str(work_dir)], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    if not marker.exists():
        proc.kill()
        out = proc.communicate()[0].decode(errors='replace')
        pytest.fail(f'the training never reached the save to interrupt:\n{out[-3000:]}')
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _resume(cfg_path, work_dir, tmp_path, env):
    """``tools/train.py CONFIG --work-dir WORK_DIR --resume``, which must succeed."""
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), str(cfg_path),
                             '--work-dir', str(work_dir), '--resume'], cwd=str(tmp_path),
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_kill_during_save_keeps_the_previous_checkpoint_and_resume_works(clips, tmp_path):
    work_dir = tmp_path / 'work'
    cfg_path = tmp_path / 'tiny.py'
    tiny_cfg(clips, work_dir, max_iters=3).dump(str(cfg_path))
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    _kill_during_slow_save(cfg_path, work_dir, tmp_path, env)
    # killed half-way through iter_2.pth: only a temporary file of it exists, the previous
    # checkpoint (which max_keep_ckpts=1 would have deleted first in stock mmengine) loads
    names = sorted(p.name for p in work_dir.iterdir() if 'pth' in p.name)
    assert 'iter_2.pth' not in names and 'iter_1.pth' in names, names
    assert any(n.startswith('.iter_2.pth.') and n.endswith('.tmp') for n in names), names
    assert (work_dir / 'last_checkpoint').read_text().strip() == str(work_dir / 'iter_1.pth')
    state = mckpt.load_checkpoint_file(str(work_dir / 'iter_1.pth'))
    assert state['meta']['iter'] == 1 and 'rng_state' in state

    _resume(cfg_path, work_dir, tmp_path, env)
    assert mckpt.load_checkpoint_file(str(work_dir / 'iter_3.pth'))['meta']['iter'] == 3
    left = sorted(p.name for p in work_dir.iterdir() if 'pth' in p.name)
    assert left == ['iter_3.pth'], left  # stale temporary and old checkpoints cleaned up


_COUNTING_METRIC = '''
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class EvaluationCount(BaseMetric):
    """count = how many evaluations this process ran: each validation is a new best."""
    evaluations = 0

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        EvaluationCount.evaluations += 1
        return dict(count=EvaluationCount.evaluations)
'''


def test_kill_during_best_save_keeps_the_previous_best_and_resume_cleans_up(clips, tmp_path):
    """``save_best`` with a metric that improves at every validation: kill -9 during the write
    of the second best checkpoint.  The first best is still there and loads (stock mmengine
    deletes it before writing the new one), and the resumed run removes the temporary file the
    killed write left (no later save has its name)."""
    (tmp_path / 'counting_metric.py').write_text(_COUNTING_METRIC)
    work_dir = tmp_path / 'work'
    cfg = tiny_cfg(clips, work_dir, max_iters=3, validate=True)
    cfg.val_evaluator = dict(type='EvaluationCount')
    cfg.custom_imports.imports = list(cfg.custom_imports.imports) + ['counting_metric']
    cfg.default_hooks.checkpoint.update(save_best='count', rule='greater')
    cfg_path = tmp_path / 'tiny_best.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    _kill_during_slow_save(cfg_path, work_dir, tmp_path, env, match='best_', nth=2)
    names = sorted(p.name for p in work_dir.iterdir() if 'pth' in p.name)
    assert 'best_count_iter_1.pth' in names and 'best_count_iter_2.pth' not in names, names
    orphans = [n for n in names if n.startswith('.best_count_iter_2.pth.') and n.endswith('.tmp')]
    assert orphans, names
    state = mckpt.load_checkpoint_file(str(work_dir / 'best_count_iter_1.pth'))
    assert state['meta']['iter'] == 1 and 'state_dict' in state

    _resume(cfg_path, work_dir, tmp_path, env)
    left = sorted(p.name for p in work_dir.iterdir() if 'pth' in p.name)
    assert left == ['best_count_iter_1.pth', 'iter_3.pth'], left  # the orphan .tmp is gone
    assert mckpt.load_checkpoint_file(str(work_dir / 'iter_3.pth'))['meta']['iter'] == 3


# --- bad checkpoints ------------------------------------------------------------------------


def run_tool_failing(tool, args, cwd):
    """``tools/<tool>.py ARGS`` in a subprocess that must fail; returns its stderr."""
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', f'{tool}.py')]
                            + [str(a) for a in args], cwd=str(cwd), capture_output=True,
                            text=True)
    assert result.returncode != 0, result.stdout[-3000:]
    return result.stderr


def test_truncated_checkpoint_error_names_the_file(tmp_path):
    """A checkpoint cut to half its bytes: torch says "PytorchStreamReader failed reading zip
    archive: failed finding central directory" (or "[Errno 22] Invalid argument") without the
    path; the safe load, the trusted load, mmengine's loader and the bytes loader name it."""
    from mmengine.runner.checkpoint import _load_checkpoint
    whole, cut = tmp_path / 'whole.pth', tmp_path / 'iter_7.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}, 'meta': {'iter': 7}}, whole)
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises((RuntimeError, OSError)) as raw:  # what the user would see otherwise
        torch.load(cut, weights_only=True)
    assert cut.name not in str(raw.value), str(raw.value)
    expected = f"checkpoint {str(cut)!r} is truncated or corrupt: the file ({len(data) // 2} "
    loads = [lambda: mckpt.load_checkpoint_file(str(cut)),
             lambda: mckpt.load_checkpoint_file(str(cut), trusted=True),
             lambda: _load_checkpoint(str(cut))]
    for load in loads:
        with pytest.raises(mckpt.CorruptCheckpointError) as info:
            load()
        assert str(info.value).startswith(expected) and 'cut short' in str(info.value), \
            str(info.value)
        assert info.value.filename == str(cut)
    with pytest.raises(mckpt.CorruptCheckpointError, match="'s3://bucket/iter_7.pth' is trunc"):
        mckpt.load_checkpoint_bytes(data[:len(data) // 2], 's3://bucket/iter_7.pth')
    assert mckpt.load_checkpoint_bytes(data, 's3://bucket/whole.pth')['meta']['iter'] == 7


def test_missing_checkpoint_errors_name_the_path(clips, tmp_path):
    missing = str(tmp_path / 'no_such_ckpt.pth')
    cfg_path = tmp_path / 'tiny.py'
    tiny_cfg(clips, tmp_path / 'work', max_iters=1).dump(str(cfg_path))
    err = run_tool_failing('test', [cfg_path, missing, '--work-dir', tmp_path / 'test'],
                           tmp_path)
    assert f'FileNotFoundError: checkpoint {missing!r} does not exist' in err, err[-3000:]
    args = argparse.Namespace(amp=False, resume=missing, no_validate=False, seed=None)
    with pytest.raises(FileNotFoundError, match='--resume: .*no_such_ckpt.pth'):
        merge_train_args(Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD')))), args)
    cfg = tiny_cfg(clips, tmp_path / 'work', max_iters=1)
    cfg.load_from = missing
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FileNotFoundError, match='no_such_ckpt.pth'):
        runner.train()
    assert runner.iter == 0


def test_mismatching_checkpoint_names_the_first_key_and_both_shapes(clips, tmp_path):
    """A 5-class checkpoint for the 8-class config: tools/test.py and load_from stop before any
    step with the first mismatching key and its two shapes."""
    from mmspike.hooks.checkpoint_hooks import first_shape_mismatch
    other = Runner.from_cfg(tiny_cfg(clips, tmp_path / 'other', 1, num_classes=5))
    ckpt = str(tmp_path / 'five_classes.pth')
    torch.save({'state_dict': other.model.state_dict()}, ckpt)
    model = Runner.from_cfg(tiny_cfg(clips, tmp_path / 'probe', 1)).model.state_dict()
    key, ckpt_shape, model_shape, count = first_shape_mismatch(other.model.state_dict(), model)
    assert key.startswith('cls_head.') and ckpt_shape[0] == 5 and model_shape[0] == 8
    expected = (f"'{key}' has shape {ckpt_shape} in the checkpoint but {model_shape} in the "
                f'model (the first of {count} ')

    cfg_path = tmp_path / 'tiny.py'
    tiny_cfg(clips, tmp_path / 'work', max_iters=1).dump(str(cfg_path))
    err = run_tool_failing('test', [cfg_path, ckpt, '--work-dir', tmp_path / 'test'], tmp_path)
    assert expected in err and 'five_classes.pth' in err, err[-3000:]

    cfg = tiny_cfg(clips, tmp_path / 'work', max_iters=1)
    cfg.load_from = ckpt
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as info:
        runner.train()
    assert expected in str(info.value), str(info.value)
    assert runner.iter == 0 and not Path(tmp_path / 'work' / 'iter_1.pth').exists()

    # the documented way to fine-tune with a new head: skip its prefix
    cfg = tiny_cfg(clips, tmp_path / 'finetune', max_iters=1)
    cfg.load_from = ckpt
    cfg.default_hooks.checkpoint_check = dict(type='CheckpointShapeCheckHook',
                                              ignore_prefixes=['cls_head.'])
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1


def test_runner_checkpoint_has_only_allowlisted_globals(clips, tmp_path):
    """A real runner checkpoint (message hub, optimizer, schedulers, RNG state) needs no global
    outside the allowlist."""
    Runner.from_cfg(tiny_cfg(clips, tmp_path, max_iters=1)).train()
    path = str(tmp_path / 'iter_1.pth')
    found = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    assert found and found <= set(mckpt.allowed_global_names()), sorted(found)
    state = mckpt.load_checkpoint_file(path)
    assert pickle.dumps(state['rng_state']['python']) and state['meta']['iter'] == 1
