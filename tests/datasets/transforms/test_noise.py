"""Test-time noise (mmspike.datasets.transforms.noise): the transforms' statistics,
determinism and errors.  The robustness test built on them is tested in
tests/apis/test_robustness.py and tests/tools/test_robustness_tool.py."""
import numpy as np
import pytest
from mmengine.registry import TRANSFORMS

import mmspike  # noqa: F401
from mmspike.datasets import GaussianNoise, SaltPepperNoise


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
