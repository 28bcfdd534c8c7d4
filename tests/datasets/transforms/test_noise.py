"""Test-time noise (mmspike.datasets.transforms.noise) and tools/analysis/robustness.py: the transforms'
statistics, determinism and errors; the noise step in a real test pipeline; the tool end to end
on a 2-iteration checkpoint of a shrunk svformer_demo.py."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import TRANSFORMS

import mmspike  # noqa: F401
from helpers import run_tool, train_tiny_svformer_demo
from mmspike.datasets import GaussianNoise, SaltPepperNoise

from helpers import REPO  # noqa: E402
SVFORMER_DEMO = osp.join(REPO, 'configs', 'svformer_demo.py')
TOOL = osp.join(REPO, 'tools', 'analysis', 'robustness.py')
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))
import robustness  # noqa: E402

FRAMES, SIZE = 8, 32


def mid_grey_clip(frames=8, size=128, low=96, high=160, seed=1):
    """uint8 frames [T, H, W, 3] uniform in [low, high]: far enough from 0 and 255 that noise of
    up to one clip std is hardly ever clipped."""
    rng = np.random.default_rng(seed)
    return rng.integers(low, high + 1, size=(frames, size, size, 3)).astype(np.uint8)


def run(transform, imgs, sample_idx=0, **extra):
    results = dict(dict(imgs=[frame.copy() for frame in imgs], sample_idx=sample_idx,
                        clip_len=len(imgs)), **extra)
    return transform(results)['imgs']


@pytest.mark.parametrize('k', [0.1, 0.3, 0.5, 1.0])
def test_gaussian_noise_std_is_k_times_the_clip_std(k):
    clip = mid_grey_clip()
    out = run(GaussianNoise(k=k), clip)
    assert isinstance(out, list) and len(out) == len(clip)
    out = np.stack(out)
    assert out.dtype == np.uint8 and out.shape == clip.shape
    noise = out.astype(np.float64) - clip
    expected = k * clip.astype(np.float64).std()
    # Rounding to integers adds uniform(-0.5, 0.5) noise (variance 1/12) to the Gaussian's.
    assert noise.std() == pytest.approx(np.sqrt(expected ** 2 + 1 / 12), rel=0.02)
    assert abs(noise.mean()) < 0.05 * expected
    assert (noise != 0).mean() > 0.5  # every value gets its own draw


def test_gaussian_noise_per_clip_std_clipping_and_flat_clips():
    # Two clips of 4 frames (num_clips=2): a low-contrast and a high-contrast one.
    quiet = mid_grey_clip(frames=4, low=120, high=136, seed=2)
    loud = mid_grey_clip(frames=4, low=60, high=196, seed=3)
    out = np.stack(run(GaussianNoise(k=0.5), np.concatenate([quiet, loud]), clip_len=4))
    for clip, noisy in ((quiet, out[:4]), (loud, out[4:])):
        expected = 0.5 * clip.astype(np.float64).std()
        assert (noisy.astype(np.float64) - clip).std() == pytest.approx(
            np.sqrt(expected ** 2 + 1 / 12), rel=0.03)

    # Values are clipped to [0, 255], not wrapped around.
    extremes = np.zeros((4, 64, 64, 3), np.uint8)
    extremes[:2] = 255
    out = np.stack(run(GaussianNoise(k=1.0), extremes))
    assert out.dtype == np.uint8
    assert (out[2:] == 0).mean() > 0.4 and (out[:2] == 255).mean() > 0.4
    assert 0 < out[2:].mean() < 128 < out[:2].mean() < 255

    flat = np.full((4, 16, 16, 3), 77, np.uint8)  # std 0: nothing to add
    assert np.array_equal(np.stack(run(GaussianNoise(k=1.0), flat)), flat)


@pytest.mark.parametrize('p', [0.1, 0.2, 0.3])
def test_salt_pepper_fraction_half_each_and_per_pixel(p):
    clip = mid_grey_clip()
    out = np.stack(run(SaltPepperNoise(p=p), clip))
    assert out.dtype == np.uint8 and out.shape == clip.shape
    changed = np.any(out != clip, axis=-1)
    salt = np.all(out == 255, axis=-1)
    pepper = np.all(out == 0, axis=-1)
    assert changed.mean() == pytest.approx(p, abs=0.005)
    assert salt.mean() == pytest.approx(p / 2, abs=0.004)
    assert pepper.mean() == pytest.approx(p / 2, abs=0.004)
    # A hit pixel is white or black in all channels; the others keep their values.
    assert np.array_equal(changed, salt | pepper)
    assert np.array_equal(out[~changed], clip[~changed])


def test_salt_pepper_per_channel_draws_each_value():
    clip = mid_grey_clip()
    out = np.stack(run(SaltPepperNoise(p=0.3, per_channel=True), clip))
    hit = (out == 255) | (out == 0)
    assert hit.mean() == pytest.approx(0.3, abs=0.005)
    # Independent channels: a pixel is hit in all 3 channels with probability p^3.
    assert hit.all(axis=-1).mean() == pytest.approx(0.3 ** 3, abs=0.003)


@pytest.mark.parametrize('transform',
                         [GaussianNoise(k=0.5, seed=3), SaltPepperNoise(p=0.2, seed=3)])
def test_noise_is_deterministic_per_sample_and_seed(transform):
    clip = mid_grey_clip(size=32)
    first = np.stack(run(transform, clip, sample_idx=5))
    assert np.array_equal(first, np.stack(run(transform, clip, sample_idx=5)))
    assert not np.array_equal(first, np.stack(run(transform, clip, sample_idx=6)))
    other_seed = type(transform)(**{**_level(transform), 'seed': 4})
    assert not np.array_equal(first, np.stack(run(other_seed, clip, sample_idx=5)))
    # Without a sample index the file name decides.
    by_name = [np.stack(transform(dict(imgs=list(clip), filename=name))['imgs'])
               for name in ('a.mp4', 'a.mp4', 'b.mp4')]
    assert np.array_equal(by_name[0], by_name[1]) and not np.array_equal(by_name[0], by_name[2])
    # An ndarray input stays an ndarray; float frames stay float and in range.
    as_array = transform(dict(imgs=clip.astype(np.float32), sample_idx=5))['imgs']
    assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float32
    assert as_array.min() >= 0 and as_array.max() <= 255


def _level(transform):
    return {'k': transform.k} if isinstance(transform, GaussianNoise) else {'p': transform.p}


def test_zero_level_is_identity_and_registry_builds_them():
    clip = mid_grey_clip(size=16)
    assert np.array_equal(np.stack(run(GaussianNoise(k=0), clip)), clip)
    assert np.array_equal(np.stack(run(SaltPepperNoise(p=0), clip)), clip)
    assert isinstance(TRANSFORMS.build(dict(type='GaussianNoise', k=0.3)), GaussianNoise)
    built = TRANSFORMS.build(dict(type='SaltPepperNoise', p=0.1, seed=2))
    assert repr(built) == 'SaltPepperNoise(p=0.1, per_channel=False, seed=2)'


@pytest.mark.parametrize('cls,kwargs,error,message', [
    (GaussianNoise, dict(k=-0.1), ValueError, 'GaussianNoise k must be >= 0, got -0.1'),
    (GaussianNoise, dict(k=float('nan')), ValueError, 'GaussianNoise k must be >= 0, got nan'),
    (GaussianNoise, dict(k='0.1'), TypeError, "GaussianNoise k must be a real number, got '0.1'"),
    (SaltPepperNoise, dict(p=1.5), ValueError, 'SaltPepperNoise p must be >= 0 and <= 1.0, '
     'got 1.5'),
    (SaltPepperNoise, dict(p=-0.2), ValueError, 'SaltPepperNoise p must be >= 0 and <= 1.0, '
     'got -0.2'),
    (SaltPepperNoise, dict(p=None), TypeError, 'SaltPepperNoise p must be a real number, got '
     'None'),
])
def test_bad_levels_are_refused(cls, kwargs, error, message):
    with pytest.raises(error) as info:
        cls(**kwargs)
    assert message in str(info.value)


def test_missing_or_bad_frames_are_named():
    with pytest.raises(KeyError, match='GaussianNoise needs decoded frames'):
        GaussianNoise(k=0.1)(dict(filename='x.mp4'))
    with pytest.raises(ValueError, match=r'got an array of shape \(4,\)'):
        SaltPepperNoise(p=0.1)(dict(imgs=np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match='6 frames do not split into clips of 4'):
        GaussianNoise(k=0.1)(dict(imgs=np.zeros((6, 4, 4, 3), np.uint8), clip_len=4))


def test_insert_noise_goes_before_format_shape():
    cfg = Config.fromfile(SVFORMER_DEMO)
    pipeline = cfg.test_dataloader.dataset.pipeline
    noisy = robustness.run_cfg(cfg, 'salt_pepper', 0.2, 7, '/tmp/unused')
    steps = [step['type'] for step in noisy.test_dataloader.dataset.pipeline]
    clean = [step['type'] for step in pipeline]
    at = clean.index('FormatShape')
    assert steps == clean[:at] + ['SaltPepperNoise'] + clean[at:]
    assert noisy.test_dataloader.dataset.pipeline[at] == dict(type='SaltPepperNoise', p=0.2,
                                                              seed=7)
    assert [step['type'] for step in pipeline] == clean  # the given config is not changed
    hooks = {hook['type']: hook for hook in noisy.custom_hooks}
    assert hooks['FiringRateHook']['plot'] is False
    assert 'plot' not in [h for h in cfg.custom_hooks if h['type'] == 'FiringRateHook'][0]
    assert robustness.insert_noise(pipeline, 'clean', 0.0) == list(pipeline)
    with pytest.raises(ValueError, match='needs a FormatShape step'):
        robustness.insert_noise([dict(type='DecordInit')], 'gaussian', 0.1)
    with pytest.raises(ValueError, match="noise must be 'gaussian' or 'salt_pepper', got 'blur'"):
        robustness.insert_noise(pipeline, 'blur', 0.1)


@pytest.fixture(scope='module')
def trained_tiny_svformer(tmp_path_factory):
    """svformer_demo.py shrunk to 8 x 32 x 32 clips, trained for 2 iterations."""
    return train_tiny_svformer_demo(tmp_path_factory.mktemp('robustness'), FRAMES, SIZE,
                                    log_level='WARNING')


def test_noise_reaches_the_model_inputs_of_the_test_set(trained_tiny_svformer):
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    cfg_path, _, root = trained_tiny_svformer
    cfg = Config.fromfile(str(cfg_path))
    init_default_scope('mmaction')

    def inputs(noise, level, seed=0):
        dataset = DATASETS.build(
            robustness.run_cfg(cfg, noise, level, seed, str(root)).test_dataloader.dataset)
        return [dataset[i]['inputs'] for i in range(2)]

    clean = inputs('clean', 0.0)
    assert clean[0].dtype == torch.uint8 and clean[0].shape[-3:] == (FRAMES, SIZE, SIZE)
    for noise, level in (('gaussian', 0.5), ('salt_pepper', 0.1)):
        noisy, again = inputs(noise, level), inputs(noise, level)
        for c, n, a in zip(clean, noisy, again):
            assert n.shape == c.shape and n.dtype == c.dtype
            assert torch.equal(n, a)  # a rerun sees the same noisy clips
            assert (n != c).float().mean() > (0.5 if noise == 'gaussian' else 0.05)
        assert not torch.equal(noisy[0], noisy[1])
    sp = inputs('salt_pepper', 0.1)[0]
    changed = sp != clean[0]
    assert torch.all((sp[changed] == 0) | (sp[changed] == 255))
    # At most p of the values change (a pixel already black or white may stay as it was).
    assert 0.02 < changed.float().mean() <= 0.1 + 0.02


def test_robustness_tool_end_to_end(trained_tiny_svformer):
    cfg_path, ckpt, root = trained_tiny_svformer
    out_dir = root / 'robust'
    out = run_tool([TOOL, str(cfg_path), ckpt, '--out-dir', str(out_dir)], root)
    lines = out.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith('mmspike robustness')]
    assert start, out
    header, rule, *body = lines[start[0] + 1:start[0] + 11]
    assert header.split()[:7] == ['noise', 'level', 'top-1', '%', 'top-5', '%', 'drop']
    expected = [('clean', 0.0), ('gaussian', 0.1), ('gaussian', 0.3), ('gaussian', 0.5),
                ('gaussian', 1.0), ('salt_pepper', 0.1), ('salt_pepper', 0.2),
                ('salt_pepper', 0.3)]
    printed = [line.split() for line in body[:len(expected)]]
    assert [(cells[0], float(cells[1])) for cells in printed] == expected, out

    report = json.loads((out_dir / 'robustness.json').read_text())
    rows = report['rows']
    assert [(r['noise'], r['level']) for r in rows] == expected
    assert report['test_samples'] == 8 and report['seed'] == 0
    for row, cells in zip(rows, printed):
        # 8 test clips: accuracies are multiples of 12.5%; the drop is clean minus noisy top-1.
        assert 0 <= row['top1'] <= row['top5'] <= 100
        assert (row['top1'] / 12.5) == pytest.approx(round(row['top1'] / 12.5))
        assert row['drop'] == pytest.approx(rows[0]['top1'] - row['top1'])
        assert float(cells[2]) == pytest.approx(row['top1'], abs=0.005)
        assert float(cells[4]) == pytest.approx(row['drop'], abs=0.005)
        assert row['energy_mj'] > 0 and 0 < row['firing_rate_mean'] < 1
    assert rows[0]['drop'] == 0
    assert set(report['seconds']) == {f'{n}_{level:g}' for n, level in expected}
    png = out_dir / 'robustness.png'
    assert png.is_file() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # Each run keeps its firing-rate table, without the figure.
    for noise, level in expected:
        run_dir = out_dir / 'runs' / f'{noise}_{level:g}'
        assert (run_dir / 'firing_rates.json').is_file(), run_dir
        assert not (run_dir / 'firing_rates.png').exists()


def test_robustness_tool_refuses_bad_input_before_testing(trained_tiny_svformer):
    cfg_path, ckpt, root = trained_tiny_svformer
    bad = root / 'bad'
    for args, error, message in (
            ([ckpt, '--gaussian-k', '0.1', '-1'], ValueError,
             'GaussianNoise k must be >= 0, got -1.0'),
            ([ckpt, '--salt-pepper-p', '2'], ValueError,
             'SaltPepperNoise p must be >= 0 and <= 1.0, got 2.0'),
            ([str(root / 'missing.pth')], FileNotFoundError, 'missing.pth\' does not exist')):
        with pytest.raises(error) as info:
            robustness.main([str(cfg_path)] + args + ['--out-dir', str(bad)])
        assert message in str(info.value)
    assert not bad.exists()  # refused before anything was written
