"""tools/analysis/robustness.py end to end on a 2-iteration checkpoint of a shrunk
svformer_demo.py, and its refusal of bad input before any test runs."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from helpers import REPO, run_tool, train_tiny_svformer_demo

TOOL = osp.join(REPO, 'tools', 'analysis', 'robustness.py')
FRAMES, SIZE = 8, 32


@pytest.fixture(scope='module')
def trained_tiny_svformer(tmp_path_factory):
    """svformer_demo.py shrunk to 8 x 32 x 32 clips, trained for 2 iterations."""
    return train_tiny_svformer_demo(tmp_path_factory.mktemp('robustness'), FRAMES, SIZE,
                                    log_level='WARNING')


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
    for args, message in (
            ([ckpt, '--gaussian-k', '0.1', '-1'], 'GaussianNoise k must be >= 0, got -1.0'),
            ([str(root / 'missing.pth')], 'missing.pth\' does not exist')):
        result = subprocess.run([sys.executable, TOOL, str(cfg_path)] + args
                                + ['--out-dir', str(bad)], capture_output=True, text=True,
                                cwd=str(root))
        assert result.returncode != 0 and message in result.stderr, result.stderr[-3000:]
    assert not bad.exists()  # refused before anything was written
