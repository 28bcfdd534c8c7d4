"""Per-layer energy of a model on real inputs (``tools/analysis/energy.py`` is the command line
over it): the inputs (:func:`video_batches`, :func:`test_set_batches`), the count through
``model.test_step`` (:func:`count_energy`), mmengine's ANN-equivalent FLOPs
(:func:`ann_flops`) and the outputs (:func:`models_table`, :func:`write_layers_csv`,
:func:`plot_layers`)."""
import csv
import os
import os.path as osp
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from .model import config_scope

LAYER_COLUMNS = ('name', 'type', 'kind', 'calls', 'dense_macs', 'input_rate', 'spike_input',
                 'macs', 'acs', 'energy_mj')


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
        ``ac_energy_mj`` divided by the number of clips), ``report`` (the counter's report per
        clip: :meth:`~mmspike.energy.EnergyReport.table`, ``breakdown``, ``summary``), ``rows``
        (one dict per layer, per clip: :func:`layer_rows`), ``clips``, ``views`` (test views in
        all), ``input_shape`` (of the last sample) and ``first_batch``.
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
    report = counter.report().scaled(1.0 / clips)
    per_clip = {key: getattr(report, key) for key in (
        'mac', 'ac', 'dense_mac', 'energy_mj', 'mac_energy_mj', 'ac_energy_mj')}
    return dict(per_clip=per_clip, report=report, rows=layer_rows(report), clips=clips,
                views=views, input_shape=shape, first_batch=first_batch)


def layer_rows(report) -> List[dict]:
    """One dict per layer of ``report``: its counts (:data:`LAYER_COLUMNS`), ``e_mac_pj`` /
    ``e_ac_pj``, and for every energy model ``m``: ``m_compute_mj``, ``m_memory_mj``,
    ``m_mj`` (the spiking network), ``m_ann_mj``, ``m_qnn_mj`` and ``m_loses_to_qnn`` (the
    layer uses more energy than in the QNN)."""
    from mmspike.energy import ENERGY_MODELS
    from mmspike.energy.models import uses_more
    rows = []
    for row in report.layers:
        data = row.as_dict()
        data.update(e_mac_pj=report.e_mac_pj, e_ac_pj=report.e_ac_pj)
        for model in ENERGY_MODELS:
            snn = row.breakdown(model)
            qnn = row.breakdown(model, 'qnn').total
            data.update({f'{model}_compute_mj': snn.compute, f'{model}_memory_mj': snn.memory,
                         f'{model}_mj': snn.total, f'{model}_ann_mj':
                         row.breakdown(model, 'ann').total, f'{model}_qnn_mj': qnn,
                         f'{model}_loses_to_qnn': uses_more(snn.total, qnn)})
        rows.append(data)
    return rows


def models_table(report, frames: Optional[int] = None) -> str:
    """Every energy model side by side for the spiking network and its baselines: mJ per clip
    (and per frame when ``frames`` is given), compute / memory parts, ANN and QNN ratios."""
    from mmspike.energy import ENERGY_MODELS
    header = (f'{"model":<8} {"mJ/clip":>10} {"mJ/frame":>10} {"compute":>10} {"memory":>10} '
              f'{"ANN mJ":>10} {"QNN mJ":>10} {"ANN/SNN":>8} {"QNN/SNN":>8}')
    lines = [header, '-' * len(header)]
    for model in ENERGY_MODELS:
        snn = report.breakdown(model)
        ratios = report.ratios(model)
        per_frame = f'{snn.total / frames:>10.5f}' if frames else f'{"":>10}'
        lines.append(f'{model:<8} {snn.total:>10.5f} {per_frame} {snn.compute:>10.5f} '
                     f'{snn.memory:>10.5f} {report.total_mj(model, "ann"):>10.5f} '
                     f'{report.total_mj(model, "qnn"):>10.5f} {ratios["ann"]:>8.2f} '
                     f'{ratios["qnn"]:>8.2f}')
    lines.append(f'QNN: {report.qnn_bits}-bit activations; ratio > 1: the spiking network uses '
                 'less energy')
    return '\n'.join(lines)


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
    """The per-layer rows of :func:`count_energy` as CSV: :data:`LAYER_COLUMNS`, then every
    model's columns (:func:`layer_rows`)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    extra = [key for key in (rows[0] if rows else {}) if key.split('_')[0] in
             ('compute', 'memory', 'lemaire')]
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(LAYER_COLUMNS) + extra,
                                extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)


def plot_layers(rows: List[dict], path: str, title: str, energy_model: str = 'compute') -> None:
    """A bar per layer under ``energy_model``: its compute and memory energy stacked, a black
    tick at the same layer's energy in the QNN baseline, and the layer names in red where the
    spiking layer uses more energy than in the QNN.  Layers whose energy in both is under 0.5%
    of the largest bar are left out (their number is written under the plot)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    largest = max([max(r[f'{energy_model}_mj'], r[f'{energy_model}_qnn_mj']) for r in rows],
                  default=0.0)
    shown = [r for r in rows if max(r[f'{energy_model}_mj'], r[f'{energy_model}_qnn_mj'])
             >= 0.005 * largest]
    hidden, rows = len(rows) - len(shown), shown
    fig, ax = plt.subplots(figsize=(10, 1.8 + 0.2 * max(1, len(rows))))
    names = [r['name'] for r in rows]
    compute = [r[f'{energy_model}_compute_mj'] for r in rows]
    memory = [r[f'{energy_model}_memory_mj'] for r in rows]
    qnn = [r[f'{energy_model}_qnn_mj'] for r in rows]
    positions = range(len(rows))
    ax.barh(positions, compute, color='tab:blue', label='compute')
    ax.barh(positions, memory, left=compute, color='tab:orange', label='memory (data movement)')
    ax.scatter(qnn, positions, marker='|', s=120, color='black', label='QNN baseline',
               zorder=3)
    ax.set_yticks(list(positions), names, fontsize=6)
    for label, row in zip(ax.get_yticklabels(), rows):
        if row[f'{energy_model}_loses_to_qnn']:
            label.set_color('tab:red')
    ax.invert_yaxis()
    ax.set_xlabel(f'mJ per clip ({energy_model} model); red names: more than in the QNN'
                  + (f'\n{hidden} layers under 0.5% of the largest bar not drawn'
                     if hidden else ''))
    ax.set_title(title, fontsize=9)
    ax.legend(loc='lower right', fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
