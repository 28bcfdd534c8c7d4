"""mmspike.evaluation.functional video consistency (VSPW's VC) against per-pixel loops and
hand-made sequences with known answers."""
import math

import numpy as np
import pytest

from mmspike.evaluation.functional import mean_video_consistency, video_consistency


def naive_vc(preds, gts, n, annotated=None):
    """Window by window, pixel by pixel, each frame compared with the window's first frame."""
    num_frames, height, width = gts.shape
    accs = []
    for start in range(num_frames - n):  # the official script's range: last window left out
        if annotated is not None and not all(annotated[start:start + n]):
            continue
        stable_gt = both = 0
        for y in range(height):
            for x in range(width):
                gt_same = all(gts[start + k, y, x] == gts[start, y, x] for k in range(n))
                pred_same = all(preds[start + k, y, x] == preds[start, y, x] for k in range(n))
                stable_gt += gt_same
                both += gt_same and pred_same
        if stable_gt:
            accs.append(both / stable_gt)
    return accs


def constant(num_frames, value=1, shape=(2, 2)):
    return np.full((num_frames, *shape), value, np.int64)


@pytest.mark.parametrize('seed,num_frames,n,labels', [
    (0, 7, 2, 2), (1, 9, 3, 2), (2, 12, 4, 2), (3, 6, 5, 2), (4, 10, 2, 3), (5, 20, 8, 2)])
def test_equals_naive_loops(seed, num_frames, n, labels):
    rng = np.random.default_rng(seed)
    # mostly static labels with a few changes, so that windows keep some stable pixels
    gts = np.repeat(rng.integers(0, labels, (1, 3, 4)), num_frames, axis=0)
    gts[rng.random(gts.shape) < 0.1] = labels
    preds = gts.copy()
    flips = rng.random(gts.shape) < 0.15
    preds[flips] = rng.integers(0, labels + 1, flips.sum())
    got = video_consistency(preds, gts, n)
    assert got.dtype == np.float64 and got.ndim == 1
    np.testing.assert_allclose(got, naive_vc(preds, gts, n), rtol=0, atol=1e-15)
    # dtypes may differ, tensors-like inputs work
    np.testing.assert_allclose(video_consistency(preds.astype(np.int32), gts.astype(np.uint8), n),
                               got, rtol=0, atol=0)
    annotated = rng.random(num_frames) > 0.2
    np.testing.assert_allclose(video_consistency(preds, gts, n, annotated=annotated),
                               naive_vc(preds, gts, n, annotated), rtol=0, atol=1e-15)


def test_perfect_and_static():
    gts = np.repeat(np.random.default_rng(0).integers(0, 4, (1, 3, 3)), 6, axis=0)
    gts[2, 0, 0] = 9
    np.testing.assert_array_equal(video_consistency(gts, gts, 3), np.ones(3))
    # a static prediction is consistent wherever the ground truth is stable
    static = video_consistency(constant(6, 0, (3, 3)), gts, 2)
    assert static.size == len(naive_vc(constant(6, 0, (3, 3)), gts, 2)) > 0
    np.testing.assert_array_equal(static, np.ones(static.size))


def test_ground_truth_change_leaves_stable_set():
    # 4 pixels, T = 4, n = 2 -> windows i = 0, 1.  Pixel (0, 0) changes its ground truth between
    # frames 0 and 1, and the prediction flickers there too: the pixel leaves G_0, so window 0
    # stays perfect; in window 1 every pixel is stable and predicted stable.
    gts = constant(4)
    gts[0, 0, 0] = 5
    preds = constant(4)
    preds[0, 0, 0] = 7
    np.testing.assert_array_equal(video_consistency(preds, gts, 2), [1.0, 1.0])
    # without the ground truth change the flicker counts: 3 of 4 pixels in window 0
    np.testing.assert_array_equal(video_consistency(preds, constant(4), 2), [0.75, 1.0])


def test_prediction_flicker_lowers_accuracy():
    # T = 5, n = 3 -> windows 0, 1.  The prediction of pixel (1, 1) flickers at frame 2 (in both
    # windows), pixel (0, 1) at frame 3 (window 1 only).
    gts = constant(5)
    preds = constant(5)
    preds[2, 1, 1] = 0
    preds[3, 0, 1] = 0
    np.testing.assert_array_equal(video_consistency(preds, gts, 3), [0.75, 0.5])
    # flicker that only a longer window sees: frame 4 is in no window of n = 3 with T = 5 ...
    preds = constant(5)
    preds[4] = 0
    np.testing.assert_array_equal(video_consistency(preds, gts, 3), [1.0, 1.0])
    np.testing.assert_array_equal(video_consistency(preds, gts, 2), [1.0, 1.0, 1.0])


def test_window_with_empty_stable_set_is_skipped():
    # every pixel's ground truth changes at frame 2: windows of n = 2 starting at 1 (frames 1-2)
    # have no stable pixel and are skipped; T = 5 -> starts 0..2, kept 0 and 2
    gts = constant(5)
    gts[2:] = 3
    preds = constant(5)
    preds[3, 0, 0] = 9   # in window 2 (frames 2-3): 3 of 4
    np.testing.assert_array_equal(video_consistency(preds, gts, 2), [1.0, 0.75])
    assert naive_vc(preds, gts, 2) == [1.0, 0.75]
    # all windows empty -> empty array
    alternating = np.arange(6)[:, None, None] * np.ones((1, 2, 2), np.int64)
    assert video_consistency(preds[:1].repeat(6, 0), alternating, 2).shape == (0, )


def test_short_videos_have_no_windows():
    for num_frames in (1, 2, 3):
        got = video_consistency(constant(num_frames), constant(num_frames), 3)
        assert got.shape == (0, ) and got.dtype == np.float64
    assert video_consistency(constant(4), constant(4), 3).shape == (1, )  # T = n + 1: one window


def test_last_window_is_left_out():
    # T = 4, n = 2: starts 0, 1 (the official script leaves out start 2 = frames 2-3, where the
    # prediction flickers); including it would give mean (1 + 1 + 0.75) / 3
    preds, gts = constant(4), constant(4)
    preds[3, 1, 0] = 2
    got = video_consistency(preds, gts, 2)
    np.testing.assert_array_equal(got, [1.0, 1.0])
    assert mean_video_consistency([got]) == 1.0
    assert naive_vc(preds, gts, 2) == [1.0, 1.0]


def test_annotated_frames():
    preds, gts = constant(6), constant(6)
    preds[1, 0, 0] = 4
    # all annotated: windows 0..3 of n = 2 -> flicker at frame 1 hits windows 0 and 1
    np.testing.assert_array_equal(video_consistency(preds, gts, 2), [0.75, 0.75, 1.0, 1.0])
    annotated = np.array([True, True, False, True, True, True])
    np.testing.assert_array_equal(video_consistency(preds, gts, 2, annotated=annotated),
                                  [0.75, 1.0])       # windows 1, 2 hold frame 2: skipped
    only_one = np.zeros(6, bool)
    only_one[3] = True
    assert video_consistency(preds, gts, 2, annotated=only_one).shape == (0, )
    with pytest.raises(ValueError, match=r'shape \(6,\).*shape \(5,\)'):
        video_consistency(preds, gts, 2, annotated=np.ones(5, bool))
    with pytest.raises(ValueError, match=r'bool array.*dtype int64'):
        video_consistency(preds, gts, 2, annotated=np.ones(6, np.int64))


def test_mean_is_window_weighted():
    long = np.full(10, 1.0)
    short = np.array([0.0, 0.5])
    assert mean_video_consistency([long, short]) == pytest.approx(10.5 / 12, rel=1e-15)
    assert mean_video_consistency(iter([long, np.empty(0), short])) == pytest.approx(10.5 / 12)
    assert mean_video_consistency([short]) == 0.25
    assert math.isnan(mean_video_consistency([]))
    assert math.isnan(mean_video_consistency([np.empty(0), np.empty(0)]))
    with pytest.raises(ValueError, match=r'1-D.*video 1 has shape \(2, 2\)'):
        mean_video_consistency([long, np.ones((2, 2))])


def test_error_messages():
    good = constant(5)
    with pytest.raises(ValueError, match=r'shapes differ: \(5, 2, 2\).*vs \(4, 2, 2\)'):
        video_consistency(good, constant(4), 2)
    with pytest.raises(ValueError, match=r'prediction.*\[T, H, W\].*shape \(2, 2\)'):
        video_consistency(good[0], good[0], 2)
    with pytest.raises(ValueError, match=r'ground truth.*\[T, H, W\].*shape \(1, 5, 2, 2\)'):
        video_consistency(good, good[None], 2)
    with pytest.raises(TypeError, match=r'integer labels; got dtype float64'):
        video_consistency(good.astype(float), good, 2)
    with pytest.raises(TypeError, match=r'integer labels; got dtype bool'):
        video_consistency(good, good.astype(bool), 2)
    with pytest.raises(ValueError, match=r'n must be >= 2.*n=1'):
        video_consistency(good, good, 1)
    with pytest.raises(TypeError, match=r'integer >= 2; got 2.0'):
        video_consistency(good, good, 2.0)
    with pytest.raises(TypeError, match=r'integer >= 2; got True'):
        video_consistency(good, good, True)
    assert video_consistency(good, good, np.int64(2)).shape == (3, )
