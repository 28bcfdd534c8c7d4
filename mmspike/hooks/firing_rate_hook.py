import json
import os.path as osp

import torch
from mmengine.dist import all_reduce, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS


def firing_rates_from_counts(counts: dict) -> dict:
    """``{layer: (spikes, elements)} -> {layer: spikes / elements}``."""
    return {name: (spikes / elements if elements else 0.0)
            for name, (spikes, elements) in counts.items()}


@HOOKS.register_module()
class FiringRateHook(Hook):
    """Record the firing rate of every spiking neuron layer over the val/test set.

    A layer's firing rate is (number of spikes it emitted) / (number of neuron-steps), summed
    over the whole evaluation set (and over processes under DDP).  ``firing_rate_mean`` is the
    unweighted mean over layers, ``firing_rate_overall`` the rate over all neuron-steps.  Both
    are logged with (and added to) the val/test metrics; the per-layer table is written to
    ``<work_dir>/firing_rates.json``.  Nothing is recorded during training.

    Args:
        enabled (bool): set False to switch the hook off without editing the hook list.
    """

    priority = 'NORMAL'

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._handles = []
        self._counts = {}

    @staticmethod
    def _neurons(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return [(name, m) for name, m in model.named_modules()
                if getattr(m, 'is_spiking_neuron', False)]

    def _start(self, runner):
        if not self.enabled:
            return
        self._counts = {}
        for name, module in self._neurons(runner):
            self._counts[name] = [0.0, 0]
            self._handles.append(module.register_forward_hook(self._make_counter(name)))

    def _make_counter(self, name):
        def count(module, inputs, output):
            self._counts[name][0] += float(output.detach().sum())
            self._counts[name][1] += output.numel()
        return count

    def _finish(self, runner, mode, metrics):
        if not self.enabled:
            return
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if not self._counts:
            runner.logger.warning('FiringRateHook: the model has no spiking neuron layers')
            return
        names = list(self._counts)
        totals = torch.tensor([self._counts[n] for n in names], dtype=torch.float64)
        all_reduce(totals)
        counts = {n: (float(s), int(e)) for n, (s, e) in zip(names, totals.tolist())}
        rates = firing_rates_from_counts(counts)
        mean_rate = sum(rates.values()) / len(rates)
        overall = sum(s for s, _ in counts.values()) / max(1, sum(e for _, e in counts.values()))
        runner.message_hub.update_scalar(f'{mode}/firing_rate_mean', mean_rate)
        runner.message_hub.update_scalar(f'{mode}/firing_rate_overall', overall)
        if metrics is not None:  # the loop returns this dict: runner.test() reports the rates
            metrics.update(firing_rate_mean=mean_rate, firing_rate_overall=overall)
        if is_main_process():
            report = dict(mode=mode, firing_rate_mean=mean_rate, firing_rate_overall=overall,
                          layers=[dict(name=n, firing_rate=rates[n], spikes=counts[n][0],
                                       neuron_steps=counts[n][1]) for n in names])
            path = osp.join(runner.work_dir, 'firing_rates.json')
            with open(path, 'w') as f:
                json.dump(report, f, indent=2)
            runner.logger.info(f'FiringRateHook: {len(names)} neuron layers, mean firing rate '
                               f'{mean_rate:.4f} (overall {overall:.4f}); per layer: {path}')

    def before_val_epoch(self, runner):
        self._start(runner)

    def before_test_epoch(self, runner):
        self._start(runner)

    def after_val_epoch(self, runner, metrics=None):
        self._finish(runner, 'val', metrics)

    def after_test_epoch(self, runner, metrics=None):
        self._finish(runner, 'test', metrics)
