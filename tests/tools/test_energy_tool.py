"""Energy in the tools: tools/test.py prints accuracy and energy side by side; the firing-rate
JSON/plot land in the work dir; tools/analysis/energy.py writes its table, CSV and plot."""
import csv
import json
import os.path as osp
import subprocess
import sys

import pytest

import mmspike  # noqa: F401
from helpers import run_tool, train_tiny_svformer_demo

from helpers import REPO, SAMPLE_VIDEOS  # noqa: E402
SHARED_VIDEO = osp.join(SAMPLE_VIDEOS, 'short_clip.mp4')
FRAMES, SIZE = 8, 32


@pytest.fixture(scope='module')
def trained_tiny_svformer(tmp_path_factory):
    """svformer_demo.py shrunk to 8 x 32 x 32 clips, trained for 2 iterations."""
    return train_tiny_svformer_demo(tmp_path_factory.mktemp('energy_tools'), FRAMES, SIZE)


def test_test_tool_prints_accuracy_and_energy_and_writes_rates(trained_tiny_svformer):
    cfg_path, ckpt, root = trained_tiny_svformer
    work_dir = root / 'test'
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), str(cfg_path), ckpt, '--work-dir',
                    str(work_dir)], root)
    summary = [line for line in out.splitlines() if line.startswith('mmspike test result')]
    assert summary, out
    assert 'acc/top1=' in summary[0] and 'energy/mJ_per_sample=' in summary[0]
    fields = dict(item.split('=') for item in summary[0].split(': ', 1)[1].split(', '))
    assert float(fields['energy/mJ_per_sample']) > 0
    assert float(fields['energy/MACs_per_sample']) > 0  # the stem sees real-valued frames
    assert float(fields['energy/dense_MACs_per_sample']) > float(fields['energy/MACs_per_sample'])
    # per frame: over views x T frames of every (views, C, T, H, W) sample
    per_frame, per_sample = float(fields['energy/mJ_per_frame']), float(
        fields['energy/mJ_per_sample'])
    assert 0 < per_frame and per_frame * FRAMES <= per_sample + FRAMES * 1e-4  # 4 decimals

    report = json.loads((work_dir / 'firing_rates.json').read_text())
    assert report['mode'] == 'test'
    assert len(report['layers']) > 10 and len(report['inputs']) > 10
    lif = report['layers'][0]
    assert len(lif['per_step']) == FRAMES
    assert lif['firing_rate'] == pytest.approx(sum(lif['per_step']) / FRAMES)
    stem = [r for r in report['inputs'] if r['name'].startswith('backbone.stem')][0]
    assert stem['nonzero_rate'] > 0.9  # real-valued frames
    png = work_dir / 'firing_rates.png'
    assert png.is_file() and png.stat().st_size > 10_000


def test_energy_analysis_tool_on_test_set_and_on_a_video(trained_tiny_svformer):
    cfg_path, ckpt, root = trained_tiny_svformer
    out_dir = root / 'energy'
    out = run_tool([osp.join(REPO, 'tools', 'analysis', 'energy.py'), str(cfg_path), ckpt,
                    '--num-clips', '2', '--out-dir', str(out_dir), '--energy-model', 'memory'],
                   root)
    assert 'compute model per clip:' in out and 'GFLOPs per view (FlopAnalyzer)' in out, out
    # one line per energy model, with the baselines' ratios
    lines = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split() and line.split()[0] in ('compute', 'memory', 'lemaire')
             and len(line.split()) == 9}  # model, per clip, per frame, parts, baselines, ratios
    assert set(lines) == {'compute', 'memory', 'lemaire'}, out
    summary = json.loads((out_dir / 'energy_summary.json').read_text())
    assert summary['clips'] == 2 and summary['inputs'] == 'test set'
    assert summary['energy_model'] == 'memory' and summary['qnn_bits'] == 1
    models = summary['models_per_clip']
    assert summary['energy_mj_per_clip'] == pytest.approx(models['memory']['snn']['total'])
    for model, parts in models.items():
        assert parts['snn']['total'] > 0 and parts['ann']['total'] > 0
        assert parts['ann_ratio'] == pytest.approx(parts['ann']['total'] / parts['snn']['total'])
        assert float(lines[model][1]) == pytest.approx(parts['snn']['total'], abs=1e-5)
        # per frame: over the 8 frames of the one view of every clip
        assert float(lines[model][2]) == pytest.approx(parts['snn']['total'] / FRAMES, abs=1e-5)
    # the ANN does every MAC of the network at E_MAC: above the spiking network's compute
    assert models['compute']['ann']['total'] > models['compute']['snn']['total']
    with open(out_dir / 'energy_layers.csv') as f:
        rows = list(csv.DictReader(f))
    assert sum(float(r['energy_mj']) for r in rows) == pytest.approx(
        models['compute']['snn']['total'], rel=1e-6)
    assert sum(float(r['memory_mj']) for r in rows) == pytest.approx(
        summary['energy_mj_per_clip'], rel=1e-6)
    assert {r['kind'] for r in rows} == {'synaptic', 'neuron', 'elementwise'}
    assert any(r['memory_loses_to_qnn'] in ('True', 'False') for r in rows)
    assert summary['ann_flops_per_view'] > 0
    assert (out_dir / 'energy_layers.png').stat().st_size > 10_000

    if not osp.isfile(SHARED_VIDEO):
        pytest.skip(f'--video part skipped: {SHARED_VIDEO} is missing '
                    '(set MMSPIKE_SAMPLE_VIDEOS to the folder of the sample videos)')
    out = run_tool([osp.join(REPO, 'tools', 'analysis', 'energy.py'), str(cfg_path),
                    '--video', SHARED_VIDEO, '--no-flops', '--out-dir', str(root / 'video')],
                   root)
    assert 'untrained' in out and f'video {SHARED_VIDEO}' in out


def test_energy_analysis_tool_errors(trained_tiny_svformer):
    cfg_path, ckpt, root = trained_tiny_svformer
    for args, message in (([str(cfg_path), str(root / 'missing.pth')], 'does not exist'),
                          ([str(cfg_path), '--video', str(root / 'none.mp4')], 'does not exist'),
                          ([str(root / 'nope.py')], 'does not exist')):
        result = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'analysis', 'energy.py')]
                                + args, cwd=str(root), capture_output=True, text=True)
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
