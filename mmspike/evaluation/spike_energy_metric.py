"""SpikeEnergyMetric: per-sample energy, MACs, ACs and firing rate of an mmengine val/test loop."""
from __future__ import annotations

import math
import weakref
from typing import Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel

from ..energy.counter import EnergyCounter, resolve_energy_costs
from ..energy.models import MEMORY_PARTS, EnergyCosts, check_energy_model
from ..registry import METRICS

_COUNT_KEYS = ('mac', 'ac', 'dense_mac', 'spikes', 'neuron_steps')


def _spike_setting(max_spike_value):
    return None if max_spike_value is None else int(max_spike_value)


def _settings(max_spike_value, count_elementwise, costs, qnn_bits):
    return (_spike_setting(max_spike_value), bool(count_elementwise), costs,
            None if qnn_bits is None else int(qnn_bits))


class _EvalForwardWatcher:
    """Counts the operations of every mmengine ``BaseModel`` forward run without gradients.

    One instance per process, shared by all SpikeEnergyMetrics: global module hooks start an
    :class:`EnergyCounter` when the outermost ``BaseModel`` forward begins under ``no_grad``
    (val/test steps; training forwards have gradients on and are ignored) and stop it when that
    forward returns.  The counts wait in ``pending`` until a metric's ``process`` takes them.
    """

    _instance: Optional['_EvalForwardWatcher'] = None

    def __init__(self, settings):
        self.settings = settings
        self.pending = dict.fromkeys(_COUNT_KEYS, 0.0)
        self.pending_pj = {}
        self.forwards = 0
        self.users = 0
        self._counter = None
        self._model = None
        self._handles = [
            torch.nn.modules.module.register_module_forward_pre_hook(self._start),
            torch.nn.modules.module.register_module_forward_hook(self._stop, always_call=True),
        ]

    @classmethod
    def acquire(cls, settings):
        watcher = cls._instance
        if watcher is None:
            watcher = cls._instance = cls(settings)
        elif watcher.settings != settings:
            raise ValueError(
                'all SpikeEnergyMetrics of one process must use the same max_spike_value, '
                'count_elementwise, energy costs and qnn_bits; got '
                f'{settings} after {watcher.settings}')
        watcher.users += 1
        return watcher

    def release(self):
        self.users -= 1
        if self.users <= 0:
            for handle in self._handles:
                handle.remove()
            if _EvalForwardWatcher._instance is self:
                _EvalForwardWatcher._instance = None

    def _start(self, module, args):
        if self._counter is not None or torch.is_grad_enabled() \
                or not isinstance(module, BaseModel):
            return
        max_spike_value, count_elementwise, costs, qnn_bits = self.settings
        self._model = module
        self._counter = EnergyCounter(module, costs.e_mac_pj, costs.e_ac_pj,
                                      max_spike_value=max_spike_value,
                                      count_elementwise=count_elementwise, costs=costs,
                                      qnn_bits=qnn_bits)
        self._counter.__enter__()

    def _stop(self, module, args, output):
        if self._counter is None or module is not self._model:
            return
        counter, self._counter, self._model = self._counter, None, None
        counter.__exit__(None, None, None)
        report = counter.report()
        self.pending['mac'] += report.mac
        self.pending['ac'] += report.ac
        self.pending['dense_mac'] += report.dense_mac
        self.pending['spikes'] += counter.spikes
        self.pending['neuron_steps'] += counter.neuron_steps
        for key, pj in report.energy_pj.items():
            self.pending_pj[key] = self.pending_pj.get(key, 0.0) + pj
        self.qnn_bits = report.qnn_bits
        self.forwards += 1

    def take(self):
        counts, forwards = dict(self.pending, **self.pending_pj), self.forwards
        self.pending = dict.fromkeys(_COUNT_KEYS, 0.0)
        self.pending_pj = {}
        self.forwards = 0
        return counts, forwards


def _frames_per_sample(data_batch, num: int) -> list:
    """The frames the model ran on for every sample: T of one clip ``[C, T, H, W]`` (pose,
    segmentation), views x T of MMAction2's ``[views, C, T, H, W]``; None for other inputs."""
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
    if torch.is_tensor(inputs):
        inputs = list(inputs)
    if not isinstance(inputs, (list, tuple)) or len(inputs) != num:
        return [None] * num
    frames = []
    for x in inputs:
        if torch.is_tensor(x) and x.dim() == 4:
            frames.append(int(x.shape[1]))
        elif torch.is_tensor(x) and x.dim() == 5:
            frames.append(int(x.shape[0]) * int(x.shape[2]))
        else:
            frames.append(None)
    return frames


@METRICS.register_module()
class SpikeEnergyMetric(BaseMetric):
    """Per-sample inference energy of a (spiking) model, counted from the tensors that flowed.

    Put it next to the task metric, e.g. ``test_evaluator = [dict(type='AccMetric'),
    dict(type='SpikeEnergyMetric')]``.  For every val/test batch it counts the model's forward
    (all of it: every view of a multi-clip / multi-crop test) with
    :class:`mmspike.energy.EnergyCounter` and splits the totals equally over the batch's samples.
    Reported (means over the evaluated samples; prefix ``energy``):

    * ``energy/mJ_per_sample``: the energy under ``energy_model``; for ``'compute'`` (default,
      the papers' convention) ``(E_MAC x MACs + E_AC x ACs) / 1e9``
    * ``energy/MACs_per_sample``: multiply-accumulates of layers whose input is real-valued;
    * ``energy/ACs_per_sample``: accumulates (synaptic operations) of layers whose input is
      spikes, ``sum over non-zero inputs of their fan-out``;
    * ``energy/dense_MACs_per_sample``: the MACs an ANN of the same shapes would do;
    * ``energy/firing_rate``: spikes / neuron-steps over all spiking neuron layers;
    * ``energy/mJ_per_frame``: the energy divided by the frames the model ran on: T for a clip
      ``[C, T, H, W]`` (pose, segmentation), views x T for MMAction2's multi-view
      ``[views, C, T, H, W]`` samples;
    * ``energy/compute_mJ`` and ``energy/memory_mJ``: its arithmetic and data-movement parts,
      and the model's own parts: ``energy/memory_params_mJ``, ``energy/memory_state_mJ``,
      ``energy/memory_activations_mJ`` (``'memory'``); ``energy/lemaire_ops_mJ``,
      ``energy/lemaire_addressing_mJ`` (``'lemaire'``); per sample, and ``..._per_frame``
      where ``mJ_per_frame`` is reported;
    * ``energy/ann_mJ``, ``energy/qnn_mJ``: the same network as an ANN (real-valued activations,
      dense MACs) and as the QNN of equal capacity (``energy/qnn_bits``-bit activations) under
      the same model; ``energy/ann_ratio`` and ``energy/qnn_ratio``: their energy over the
      spiking network's (> 1: the spiking network uses less).

    Under DDP each rank counts its own batches; results are gathered like any mmengine metric.

    Args:
        e_mac_pj, e_ac_pj (float, optional): pJ per MAC / AC; default from ``preset``.
        preset (str): 'fp32' (4.6 / 0.9 pJ, 45 nm, Horowitz 2014; default), 'fp16', 'int8'.
        max_spike_value (int, optional): integer activations up to this value count as spikes,
            an integer spike ``s`` as ``s`` binary ones (I-LIF's D binary sub-steps, the
            paper's convention). Defaults to None: the evaluated model's largest I-LIF
            ``levels``, else 1.
        count_elementwise (bool): also count normalisation and element-wise operations in the
            ``'compute'`` model.
        energy_model (str): ``'compute'`` (default), ``'memory'`` or ``'lemaire'``
            (:mod:`mmspike.energy.models`, docs/energy.md).
        costs (dict, optional): other constants of :class:`~mmspike.energy.EnergyCosts`, e.g.
            ``dict(e_memory_pj_per_byte=10.0)``.
        qnn_bits (int, optional): the QNN baseline's activation bits (default: 1 for binary
            neurons, ``ceil(log2(D + 1))`` for integer ones).
        collect_device (str): 'cpu' or 'gpu', as for every mmengine metric.
        prefix (str): metric name prefix; default 'energy'.
    """

    default_prefix = 'energy'

    def __init__(self, e_mac_pj=None, e_ac_pj=None, preset='fp32', max_spike_value=None,
                 count_elementwise=False, energy_model: str = 'compute',
                 costs: Optional[dict] = None, qnn_bits: Optional[int] = None,
                 collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.e_mac_pj, self.e_ac_pj = resolve_energy_costs(e_mac_pj, e_ac_pj, preset)
        self.energy_model = check_energy_model(energy_model)
        costs = dict(costs or {})
        unknown = sorted(set(costs) - set(EnergyCosts.__dataclass_fields__) -
                         {'e_mac_pj', 'e_ac_pj'})
        if unknown or 'e_mac_pj' in costs or 'e_ac_pj' in costs:
            raise ValueError(f'SpikeEnergyMetric: costs takes the keys of EnergyCosts other than '
                             f'e_mac_pj / e_ac_pj / qnn_bits (given as arguments); got '
                             f'{sorted(costs)}')
        costs = EnergyCosts(**dict(costs, e_mac_pj=self.e_mac_pj, e_ac_pj=self.e_ac_pj))
        self._watcher = _EvalForwardWatcher.acquire(
            _settings(max_spike_value, count_elementwise, costs, qnn_bits))
        weakref.finalize(self, self._watcher.release)

    def process(self, data_batch, data_samples: Sequence) -> None:
        counts, forwards = self._watcher.take()
        if forwards == 0:
            raise RuntimeError(
                'SpikeEnergyMetric saw no model forward for this batch: it counts forwards of an '
                'mmengine BaseModel run under torch.no_grad() (the val/test loops do this)')
        num = len(data_samples)
        if num == 0:
            return
        frames = _frames_per_sample(data_batch, num)
        for index in range(num):
            self.results.append(dict({k: v / num for k, v in counts.items()},
                                     frames=frames[index]))

    def compute_metrics(self, results: list) -> dict:
        num = len(results)
        totals = {k: sum(r[k] for r in results) for k in _COUNT_KEYS}
        energy_pj = totals['mac'] * self.e_mac_pj + totals['ac'] * self.e_ac_pj
        steps = totals['neuron_steps']
        metrics = {
            'mJ_per_sample': energy_pj / 1e9 / num,
            'MACs_per_sample': totals['mac'] / num,
            'ACs_per_sample': totals['ac'] / num,
            'dense_MACs_per_sample': totals['dense_mac'] / num,
            'firing_rate': totals['spikes'] / steps if steps else math.nan,
        }
        model = self.energy_model
        systems = {}
        for system in ('snn', 'ann', 'qnn'):
            prefix = f'{model}/{system}/'
            systems[system] = {key[len(prefix):]: sum(r.get(key, 0.0) for r in results) / 1e9
                               for key in results[0] if key.startswith(prefix)}
        snn = systems['snn']
        total = energy_pj / 1e9 if model == 'compute' else sum(snn.values())
        memory = sum(snn.get(part, 0.0) for part in MEMORY_PARTS[model])
        parts = {'compute_mJ': total - memory, 'memory_mJ': memory}
        if model == 'memory':
            parts.update({f'memory_{part}_mJ': snn.get(part, 0.0)
                          for part in MEMORY_PARTS['memory']})
        elif model == 'lemaire':
            parts.update(lemaire_ops_mJ=snn.get('ops', 0.0),
                         lemaire_addressing_mJ=snn.get('addressing', 0.0))
        metrics['mJ_per_sample'] = total / num
        metrics.update({key: value / num for key, value in parts.items()})
        for system in ('ann', 'qnn'):
            baseline = sum(systems[system].values())
            metrics[f'{system}_mJ'] = baseline / num
            metrics[f'{system}_ratio'] = baseline / total if total > 0 else math.nan
        metrics['qnn_bits'] = getattr(self._watcher, 'qnn_bits', math.nan)
        frames = [r.get('frames') for r in results]
        if all(frames):
            metrics['mJ_per_frame'] = total / sum(frames)
            metrics.update({f'{key}_per_frame': value / sum(frames)
                            for key, value in parts.items()})
        return metrics
