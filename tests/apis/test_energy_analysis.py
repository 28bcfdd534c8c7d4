"""mmspike.apis.energy_analysis: counts per clip over several batches, test views, the layer
rows and their CSV (tools/analysis/energy.py end to end: tests/tools/test_energy_tool.py)."""
import csv

import pytest
import torch
from torch import nn

from mmspike.apis.energy_analysis import LAYER_COLUMNS, count_energy, write_layers_csv
from mmspike.energy import EnergyCounter


class TinyClipModel(nn.Module):
    """A conv on the frames of ``[views, C, T, H, W]`` inputs, with ``test_step``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def test_step(self, batch):
        x = torch.stack(batch['inputs']).float()             # [N, views, C, T, H, W]
        frames = x.permute(0, 1, 3, 2, 4, 5).flatten(0, 2)    # [N * views * T, C, H, W]
        return [self.conv(frames).sum()]


def batches(count, views):
    for index in range(count):
        yield dict(inputs=[torch.rand(views, 3, 2, 8, 8)]), f'clip {index}'


def test_counts_are_per_clip(tmp_path):
    torch.manual_seed(0)
    model = TinyClipModel()
    seen = []
    one = count_energy(model, batches(1, 3), EnergyCounter(model),
                       on_batch=lambda label, shape: seen.append((label, shape)))
    three = count_energy(model, batches(3, 3), EnergyCounter(model))
    assert seen == [('clip 0', (3, 3, 2, 8, 8))]
    assert one['clips'] == 1 and three['clips'] == 3 and three['views'] == 9
    assert three['input_shape'] == (3, 3, 2, 8, 8)
    # the same work per clip: equal counts per clip
    macs = 3 * 2 * 8 * 8 * 4 * 3 * 3 * 3  # views x T x H x W x C_out x C_in x 3 x 3
    assert one['per_clip']['mac'] == three['per_clip']['mac'] == macs
    assert three['report'].mac == macs and three['rows'][0]['macs'] == macs
    assert three['per_clip']['energy_mj'] == pytest.approx(one['per_clip']['energy_mj'])
    assert sum(r['energy_mj'] for r in three['rows']) == pytest.approx(
        three['per_clip']['energy_mj'])
    path = tmp_path / 'out' / 'layers.csv'
    write_layers_csv(three['rows'], str(path))
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:len(LAYER_COLUMNS)] == list(LAYER_COLUMNS)
    assert float(rows[0]['macs']) == macs
    # every model's energy per clip too, and the same per clip from one clip or three
    for name in ('compute', 'memory', 'lemaire'):
        assert three['report'].total_mj(name) == pytest.approx(one['report'].total_mj(name))
        assert float(rows[0][f'{name}_mj']) == pytest.approx(
            three['report'].layers[0].breakdown(name).total)
    # a real-valued conv and no neuron: the QNN is the ANN, and both equal the network
    assert three['report'].ratios('memory') == pytest.approx({'ann': 1.0, 'qnn': 1.0})
    with pytest.raises(ValueError, match='no input to count'):
        count_energy(model, iter(()), EnergyCounter(model))
