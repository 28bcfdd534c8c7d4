"""tools/benchmark.py runs and its equality checks hold on small inputs (no timing asserted)."""
import json
import os.path as osp

import pytest
from helpers import REPO, run_tool

BENCHMARK = osp.join(REPO, 'tools', 'benchmark.py')


def test_neuron_benchmark_rows_and_equality(tmp_path):
    out = tmp_path / 'neurons.json'
    # one kind: each implementation's memory is measured in a fresh process (slow to start)
    run_tool([BENCHMARK, 'neurons', '--shape', '4', '2', '8', '5', '--kinds', 'LIF', '--repeats',
              '1', '--json', str(out)], tmp_path)
    rows = json.loads(out.read_text())['rows']
    assert [(r['neuron'], r['impl']) for r in rows] == [
        ('LIF', 'spikingjelly'), ('LIF', 'reference'), ('LIF', 'fused')]
    assert all(r['equal_to_anchor'] for r in rows), rows
    assert all(r['latency_ms'] > 0 and r['peak_mib'] >= 0 for r in rows)


def test_step_benchmark_fused_equals_reference(tmp_path):
    out = tmp_path / 'steps.json'
    printed = run_tool([BENCHMARK, 'steps', '--model', 'pose_demo', '--frames', '2', '4',
                        '--batch', '2', '--size', '32', '--repeats', '1', '--variants',
                        'reference/contiguous', 'fused/contiguous', '--json', str(out)],
                       tmp_path)
    rows = json.loads(out.read_text())['pose_demo']
    assert [(r['frames'], r['variant']) for r in rows] == [
        (2, 'reference/contiguous'), (2, 'fused/contiguous'),
        (4, 'reference/contiguous'), (4, 'fused/contiguous')]
    for row in rows:
        assert row['loss_diff_vs_reference'] <= 1e-5 * max(1.0, abs(row['first_loss']))
        assert row['grad_diff_vs_reference'] <= 1e-5
        assert row['energy_mj_per_clip'] > 0 and row['train_step_s'] > 0
    assert 'latency(T=4) / latency(T=2)' in printed


def test_memory_benchmark_settings_and_equality(tmp_path):
    """tools/benchmark_memory.py on a tiny backbone: every setting measured in its own processes,
    packed spikes and layer checkpointing give plain training's loss and gradients bit for bit,
    block checkpointing to float32 rounding (no memory or time figure asserted: those are the
    benchmark's)."""
    printed = run_tool([osp.join(REPO, 'tools', 'benchmark_memory.py'), '--arch', 'tiny',
                        '--frames', '4', '--size', '32', '--batch', '1', '--steps', '1',
                        '--rounds', '1', '--settings', 'none', 'with_cp', 'compress', 'layer'],
                       tmp_path)
    names = ('none', 'with_cp', 'compress', 'layer')
    rows = {line.split()[0]: line for line in printed.splitlines()
            if line.startswith('  ') and line.split()[0] in names}
    assert set(rows) == set(names), printed
    assert all(rows[name].endswith('bit for bit') for name in ('none', 'compress', 'layer'))
    diff = float(rows['with_cp'].split('max diff ')[1]) if 'max diff' in rows['with_cp'] else 0.0
    assert diff <= 1e-4, rows['with_cp']
    for line in rows.values():
        peak, _, retained, step = (float(v) for v in line.split()[1:5])
        assert peak > 0 and step > 0 and retained < peak


def test_memory_benchmark_config_and_plan(tmp_path):
    """--config takes the backbone and its memory policy (the setting 'config') from a config;
    --budget plans: one step per setting at batch 1, the predicted memory at --batch, the
    largest batch within the budget."""
    config = osp.join(REPO, 'configs', 'spikevideoformer_pose_mmhpsd.py')
    printed = run_tool([osp.join(REPO, 'tools', 'benchmark_memory.py'), '--config', config,
                        '--frames', '2', '--size', '32', '--batch', '3', '--budget', '64',
                        '--settings', 'with_cp', 'config'], tmp_path)
    assert 'SpikeVideoFormer large, T=2, 32x32' in printed and 'AdamW state' in printed
    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines()
            if line.startswith('  ') and line.split()[0] in ('with_cp', 'config')}
    assert set(rows) == {'with_cp', 'config'}, printed
    for step_1, per_clip, step_3, total_3, fits, largest in rows.values():
        step_1, per_clip, step_3 = float(step_1), float(per_clip), float(step_3)
        assert 0 < per_clip < step_1 < step_3
        assert step_3 == pytest.approx(step_1 + 2 * per_clip, abs=0.02)
        assert fits == 'yes' and int(largest) >= 3
