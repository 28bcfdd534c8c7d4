"""Per-layer energy of a model on real inputs (``tools/analysis/energy.py`` is the command line
over it): the inputs (:func:`video_batches`, :func:`test_set_batches`), the count through
``model.test_step`` (:func:`count_energy`), mmengine's ANN-equivalent FLOPs
(:func:`ann_flops`) and the outputs (:func:`write_layers_csv`, :func:`plot_layers`)."""
import csv
import os
import os.path as osp
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from .model import config_scope

LAYER_COLUMNS = ('name', 'type', 'calls', 'dense_macs', 'input_rate', 'spike_input', 'macs',
                 'acs', 'energy_mj')


def video_batches(cfg: Config, video: str) -> Iterator[Tuple[dict, str]]:
    """One batch: ``video`` through the config's test pipeline (which must read a video from
    ``filename``, as MMAction2's ``DecordInit``/``PyAVInit`` do); yields ``(batch, label)``."""
    from mmengine.dataset import Compose, pseudo_collate
    if not osp.isfile(video):
        raise FileNotFoundError(f'video {video!r} does not exist')
    with config_scope(cfg):
        pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
        try:
            data = pipeline(dict(filename=video, label=-1, start_index=0, modality='RGB'))
        except (KeyError, TypeError) as error:
            raise ValueError(f'--video: the test pipeline of this config does not read a video '
                             f'from "filename" ({type(error).__name__}: {error}); use the test '
                             f'set (--num-clips) instead') from error
    yield pseudo_collate([data]), f'video {video}'


def test_set_batches(cfg: Config, num_clips: int) -> Iterator[Tuple[dict, str]]:
    """The first ``num_clips`` samples of the config's test set, one per batch (the embedded
    dataset is generated if the config names one); yields ``(batch, label)``."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS

    from mmspike.datasets.synthetic import prepare_embedded_dataset
    if num_clips < 1:
        raise ValueError(f'num_clips must be >= 1, got {num_clips}')
    prepare_embedded_dataset(cfg)
    with config_scope(cfg):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        if len(dataset) == 0:
            raise ValueError('the config\'s test set is empty; pass --video FILE')
        count = min(num_clips, len(dataset))
        for index in range(count):
            yield pseudo_collate([dataset[index]]), f'test set clip {index + 1}/{count}'


def count_energy(model: nn.Module, batches: Iterable[Tuple[dict, str]], counter,
                 on_batch: Optional[Callable[[str, tuple], None]] = None) -> dict:
    """Count ``model.test_step`` of every batch with ``counter`` (an
    :class:`~mmspike.energy.EnergyCounter` of ``model``), as ``tools/test.py`` tests (all test
    views), every batch from reset neurons.

    Args:
        model (nn.Module): the model.
        batches (Iterable): ``(batch, label)`` pairs.
        counter (EnergyCounter): the counter.
        on_batch (callable, optional): called with the label and the input shape of every
            batch.

    Returns:
        dict: ``per_clip`` (``mac``, ``ac``, ``dense_mac``, ``energy_mj``, ``mac_energy_mj``,
        ``ac_energy_mj`` divided by the number of clips), ``report`` (the counter's report with
        its layers and totals per clip, for its ``table()``), ``rows`` (one dict per layer,
        per clip, with ``e_mac_pj`` / ``e_ac_pj``), ``clips``, ``views`` (test views in all),
        ``input_shape`` (of the last sample) and ``first_batch``.
    """
    from mmspike.neurons import reset_neurons
    clips, views, first_batch, shape = 0, 0, None, None
    for batch, label in batches:
        reset_neurons(model)
        with torch.no_grad(), counter:
            model.test_step(batch)
        clips += 1
        first_batch = first_batch or batch
        shape = tuple(batch['inputs'][0].shape)
        views += shape[0] if len(shape) == 5 else 1  # (views, C, T, H, W) from FormatShape
        if on_batch is not None:
            on_batch(label, shape)
    if clips == 0:
        raise ValueError('no input to count')
    report = counter.report()
    per_clip = {key: getattr(report, key) / clips for key in (
        'mac', 'ac', 'dense_mac', 'energy_mj', 'mac_energy_mj', 'ac_energy_mj')}
    rows = []
    for row in report.layers:
        data = row.as_dict()
        for key in ('dense_macs', 'macs', 'acs', 'energy_mj'):
            data[key] = data[key] / clips
        data.update(e_mac_pj=report.e_mac_pj, e_ac_pj=report.e_ac_pj)
        rows.append(data)
    for row in report.layers:  # the report's table per clip as well
        row.dense_macs, row.macs, row.acs = (row.dense_macs // clips, row.macs // clips,
                                             row.acs // clips)
        row.energy_mj /= clips
    report.mac, report.ac, report.dense_mac = (int(per_clip['mac']), int(per_clip['ac']),
                                               int(per_clip['dense_mac']))
    report.energy_mj = per_clip['energy_mj']
    return dict(per_clip=per_clip, report=report, rows=rows, clips=clips, views=views,
                input_shape=shape, first_batch=first_batch)


def ann_flops(model: nn.Module, batch: dict) -> float:
    """ANN-equivalent FLOPs (one per multiply-add) of one view through backbone and head, by
    mmengine's FlopAnalyzer (a jit trace)."""
    from mmengine.analysis import FlopAnalyzer

    class TensorMode(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inputs):
            return self.inner(inputs, mode='tensor')

    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    one_view = inputs[:1]
    if one_view.dim() == 6:  # MMAction2: (N, views, C, T, H, W) -> one view
        one_view = one_view[:, :1]
    analyzer = FlopAnalyzer(TensorMode(model), (one_view, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total()


def write_layers_csv(rows: List[dict], path: str) -> None:
    """The per-layer rows of :func:`count_energy` as CSV (:data:`LAYER_COLUMNS`)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(LAYER_COLUMNS), extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)


def plot_layers(rows: List[dict], path: str, title: str) -> None:
    """A bar per layer: the energy of its MACs (real-valued input) and ACs (spike input)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.2 * max(1, len(rows))))
    names = [r['name'] for r in rows]
    mac_mj = [r['macs'] * r['e_mac_pj'] / 1e9 for r in rows]
    ac_mj = [r['acs'] * r['e_ac_pj'] / 1e9 for r in rows]
    ax.barh(range(len(rows)), mac_mj, color='tab:red', label='MAC (real-valued input)')
    ax.barh(range(len(rows)), ac_mj, left=mac_mj, color='tab:blue', label='AC (spike input)')
    ax.set_yticks(range(len(rows)), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel('mJ per clip')
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
