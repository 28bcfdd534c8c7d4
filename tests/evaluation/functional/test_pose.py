"""mmspike.evaluation.functional pose errors against direct NumPy computations."""
import math

import numpy as np
import pytest

from mmspike.evaluation.functional import (accel_error, mpjpe, pa_mpjpe, pel_mpjpe,
                                           procrustes_align)

RNG = np.random.default_rng(0)
TARGET = RNG.normal(size=(2, 5, 24, 3))      # [N, T, J, 3]
PRED = TARGET + 0.1 * RNG.normal(size=TARGET.shape)


def loop_mean(fn, *arrays):
    values = [fn(*(a[n, t, j] for a in arrays))
              for n in range(arrays[0].shape[0]) for t in range(arrays[0].shape[1])
              for j in range(arrays[0].shape[2])]
    return sum(values) / len(values)


def rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k  # Rodrigues


def horn_similarity(x, y):
    """Best s, R, t with s R x_j + t ~ y_j by Horn's quaternion method (1987): R from the
    eigenvector of the largest eigenvalue of the 4 x 4 matrix N built from sum x0 y0^T."""
    x0, y0 = x - x.mean(0), y - y.mean(0)
    m = x0.T @ y0
    sxx, sxy, sxz, syx, syy, syz, szx, szy, szz = m.ravel()
    n = np.array([[sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
                  [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
                  [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
                  [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz]])
    w, v = np.linalg.eigh(n)
    q0, qx, qy, qz = v[:, np.argmax(w)]
    r = np.array([
        [q0**2 + qx**2 - qy**2 - qz**2, 2 * (qx * qy - q0 * qz), 2 * (qx * qz + q0 * qy)],
        [2 * (qy * qx + q0 * qz), q0**2 - qx**2 + qy**2 - qz**2, 2 * (qy * qz - q0 * qx)],
        [2 * (qz * qx - q0 * qy), 2 * (qz * qy + q0 * qx), q0**2 - qx**2 - qy**2 + qz**2]])
    s = np.sum(y0 * (x0 @ r.T)) / np.sum(x0 ** 2)
    return s * (x0 @ r.T) + y.mean(0)


def test_mpjpe_equals_a_loop_over_frames_and_joints():
    expected = loop_mean(lambda p, g: math.dist(p, g), PRED, TARGET)
    assert mpjpe(PRED, TARGET) == pytest.approx(expected, rel=1e-12)


def test_pel_mpjpe_aligns_the_mean_of_the_hips():
    shifted = PRED + np.array([3.0, -2.0, 7.0])  # a translation only changes MPJPE
    pelvis_p = PRED[..., [1, 2], :].mean(-2, keepdims=True)
    pelvis_g = TARGET[..., [1, 2], :].mean(-2, keepdims=True)
    expected = loop_mean(lambda p, g: math.dist(p, g), PRED - pelvis_p, TARGET - pelvis_g)
    assert pel_mpjpe(shifted, TARGET) == pytest.approx(expected, rel=1e-12)
    assert mpjpe(shifted, TARGET) > 5
    with pytest.raises(ValueError, match=r'root joints \(30,\) out of range for J=24'):
        pel_mpjpe(PRED, TARGET, root=(30, ))


def test_pa_mpjpe_removes_a_known_rotation_scale_and_translation_exactly():
    r = rotation([0.3, -1.0, 0.5], 1.1)
    moved = 2.5 * TARGET @ r.T + np.array([0.4, -1.2, 3.0])  # s R G + t
    assert pa_mpjpe(moved, TARGET) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(procrustes_align(moved, TARGET), TARGET, atol=1e-12)
    assert mpjpe(moved, TARGET) > 1.0


def test_pa_mpjpe_excludes_reflections():
    mirrored = TARGET * np.array([-1.0, 1.0, 1.0])  # a reflection is no rotation
    assert pa_mpjpe(mirrored, TARGET) > 0.1


def test_pa_mpjpe_equals_horns_quaternion_solution():
    r = rotation([1.0, 2.0, -0.5], 0.7)
    noisy = 0.8 * PRED @ r.T + np.array([1.0, 0.0, -2.0])
    aligned = np.stack([np.stack([horn_similarity(noisy[n, t], TARGET[n, t])
                                  for t in range(TARGET.shape[1])]) for n in range(2)])
    np.testing.assert_allclose(procrustes_align(noisy, TARGET), aligned, atol=1e-9)
    expected = loop_mean(lambda p, g: math.dist(p, g), aligned, TARGET)
    assert pa_mpjpe(noisy, TARGET) == pytest.approx(expected, rel=1e-9)
    assert pa_mpjpe(noisy, TARGET) < mpjpe(PRED, TARGET)  # the best fit beats the plain error


def test_accel_error_is_the_mean_norm_of_second_difference_errors():
    errors = []
    for n in range(2):
        for t in range(1, TARGET.shape[1] - 1):
            for j in range(24):
                a_p = PRED[n, t + 1, j] - 2 * PRED[n, t, j] + PRED[n, t - 1, j]
                a_g = TARGET[n, t + 1, j] - 2 * TARGET[n, t, j] + TARGET[n, t - 1, j]
                errors.append(math.dist(a_p, a_g))
    assert accel_error(PRED, TARGET) == pytest.approx(sum(errors) / len(errors), rel=1e-12)
    # constant velocity adds no acceleration
    drift = TARGET + np.arange(5)[None, :, None, None] * np.array([0.1, 0.2, 0.3])
    assert accel_error(drift, TARGET) == pytest.approx(0.0, abs=1e-12)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r'shapes differ: \(2, 5, 24, 3\) vs \(2, 5, 17, 3\)'):
        mpjpe(PRED, TARGET[..., :17, :])
    with pytest.raises(ValueError, match=r'expected poses \[..., T, J, 3\], got shape \(24, 2\)'):
        mpjpe(np.zeros((24, 2)), np.zeros((24, 2)))
    with pytest.raises(ValueError, match='needs at least 3 frames, got T=2'):
        accel_error(PRED[:, :2], TARGET[:, :2])


def test_tensors_are_accepted():
    import torch
    assert mpjpe(torch.tensor(PRED), torch.tensor(TARGET)) == pytest.approx(mpjpe(PRED, TARGET))
