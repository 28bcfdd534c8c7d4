"""The training-memory plan: the formula of plan_training_memory against hand-computed figures,
and its errors."""
import pytest

from mmspike.engine.memory import plan_training_memory

MIB = 2 ** 20


def test_plan_scales_the_activations_not_the_gradients():
    # step at batch 1: 100 MiB of gradients + 300 MiB per clip; 100 MiB of parameters
    plan = plan_training_memory(400 * MIB, 100 * MIB, 100 * MIB, batch=4,
                                budget_bytes=2000 * MIB, optimizer='AdamW')
    assert plan['per_clip_bytes'] == 300 * MIB
    assert plan['step_bytes'] == 100 * MIB + 4 * 300 * MIB
    # parameters + two AdamW moments + gradients + 4 clips
    assert plan['total_bytes'] == (100 + 200 + 100 + 1200) * MIB
    assert plan['largest_batch'] == 5  # (2000 - 400) // 300
    sgd = plan_training_memory(400 * MIB, 100 * MIB, 100 * MIB, batch=1, optimizer='SGD')
    assert sgd['total_bytes'] == (100 + 100 + 100 + 300) * MIB and 'largest_batch' not in sgd
    none = plan_training_memory(400 * MIB, 100 * MIB, 100 * MIB, 1, 350 * MIB, optimizer=None)
    assert none['largest_batch'] == 0  # 200 MiB of parameters and gradients leave 150 < 300


def test_plan_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown optimizer 'Lion'"):
        plan_training_memory(2, 1, 1, 1, optimizer='Lion')
    with pytest.raises(ValueError, match='batch must be >= 1, got 0'):
        plan_training_memory(2, 1, 1, 0)
    with pytest.raises(ValueError, match='not larger than the gradients'):
        plan_training_memory(1, 1, 1, 1)
