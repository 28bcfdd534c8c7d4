"""SpikeEnergyMetric: per-sample energy, MACs, ACs and firing rate of an mmengine val/test loop."""
from __future__ import annotations

import math
import weakref
from typing import Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel

from ..energy.counter import EnergyCounter, resolve_energy_costs
from ..registry import METRICS

_COUNT_KEYS = ('mac', 'ac', 'dense_mac', 'spikes', 'neuron_steps')


def _spike_setting(max_spike_value):
    return None if max_spike_value is None else int(max_spike_value)


class _EvalForwardWatcher:
    """Counts the operations of every mmengine ``BaseModel`` forward run without gradients.

    One instance per process, shared by all SpikeEnergyMetrics: global module hooks start an
    :class:`EnergyCounter` when the outermost ``BaseModel`` forward begins under ``no_grad``
    (val/test steps; training forwards have gradients on and are ignored) and stop it when that
    forward returns.  The counts wait in ``pending`` until a metric's ``process`` takes them.
    """

    _instance: Optional['_EvalForwardWatcher'] = None

    def __init__(self, max_spike_value, count_elementwise):
        self.settings = (_spike_setting(max_spike_value), bool(count_elementwise))
        self.pending = dict.fromkeys(_COUNT_KEYS, 0.0)
        self.forwards = 0
        self.users = 0
        self._counter = None
        self._model = None
        self._handles = [
            torch.nn.modules.module.register_module_forward_pre_hook(self._start),
            torch.nn.modules.module.register_module_forward_hook(self._stop, always_call=True),
        ]

    @classmethod
    def acquire(cls, max_spike_value, count_elementwise):
        watcher = cls._instance
        if watcher is None:
            watcher = cls._instance = cls(max_spike_value, count_elementwise)
        elif watcher.settings != (_spike_setting(max_spike_value), bool(count_elementwise)):
            raise ValueError(
                'all SpikeEnergyMetrics of one process must use the same max_spike_value and '
                f'count_elementwise; got {(max_spike_value, count_elementwise)} after '
                f'{watcher.settings}')
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
        max_spike_value, count_elementwise = self.settings
        self._model = module
        self._counter = EnergyCounter(module, max_spike_value=max_spike_value,
                                      count_elementwise=count_elementwise)
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
        self.forwards += 1

    def take(self):
        counts, forwards = self.pending, self.forwards
        self.pending = dict.fromkeys(_COUNT_KEYS, 0.0)
        self.forwards = 0
        return counts, forwards


def _frames_per_sample(data_batch, num: int) -> list:
    """T of every sample whose input is one clip ``[C, T, H, W]``, else None."""
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
    if torch.is_tensor(inputs):
        inputs = list(inputs)
    if not isinstance(inputs, (list, tuple)) or len(inputs) != num:
        return [None] * num
    return [int(x.shape[1]) if torch.is_tensor(x) and x.dim() == 4 else None for x in inputs]


@METRICS.register_module()
class SpikeEnergyMetric(BaseMetric):
    """Per-sample inference energy of a (spiking) model, counted from the tensors that flowed.

    Put it next to the task metric, e.g. ``test_evaluator = [dict(type='AccMetric'),
    dict(type='SpikeEnergyMetric')]``.  For every val/test batch it counts the model's forward
    (all of it: every view of a multi-clip / multi-crop test) with
    :class:`mmspike.energy.EnergyCounter` and splits the totals equally over the batch's samples.
    Reported (means over the evaluated samples; prefix ``energy``):

    * ``energy/mJ_per_sample`` = ``(E_MAC x MACs + E_AC x ACs) / 1e9``
    * ``energy/MACs_per_sample``: multiply-accumulates of layers whose input is real-valued;
    * ``energy/ACs_per_sample``: accumulates (synaptic operations) of layers whose input is
      spikes, ``sum over non-zero inputs of their fan-out``;
    * ``energy/dense_MACs_per_sample``: the MACs an ANN of the same shapes would do;
    * ``energy/firing_rate``: spikes / neuron-steps over all spiking neuron layers;
    * ``energy/mJ_per_frame``: the energy divided by the frames the samples hold, when every
      sample is one clip ``[C, T, H, W]`` (pose and segmentation clips: T frames each; not for
      MMAction2's multi-view ``[views, C, T, H, W]`` samples).

    Under DDP each rank counts its own batches; results are gathered like any mmengine metric.

    Args:
        e_mac_pj, e_ac_pj (float, optional): pJ per MAC / AC; default from ``preset``.
        preset (str): 'fp32' (4.6 / 0.9 pJ, 45 nm, Horowitz 2014; default), 'fp16', 'int8'.
        max_spike_value (int, optional): integer activations up to this value count as spikes,
            an integer spike ``s`` as ``s`` binary ones (I-LIF's D binary sub-steps, the
            paper's convention). Defaults to None: the evaluated model's largest I-LIF
            ``levels``, else 1.
        count_elementwise (bool): also count normalisation and element-wise operations.
        collect_device (str): 'cpu' or 'gpu', as for every mmengine metric.
        prefix (str): metric name prefix; default 'energy'.
    """

    default_prefix = 'energy'

    def __init__(self, e_mac_pj=None, e_ac_pj=None, preset='fp32', max_spike_value=None,
                 count_elementwise=False, collect_device='cpu', prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.e_mac_pj, self.e_ac_pj = resolve_energy_costs(e_mac_pj, e_ac_pj, preset)
        self._watcher = _EvalForwardWatcher.acquire(max_spike_value, count_elementwise)
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
        frames = [r.get('frames') for r in results]
        if all(frames):
            metrics['mJ_per_frame'] = energy_pj / 1e9 / sum(frames)
        return metrics
