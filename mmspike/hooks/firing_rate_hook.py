import json
import os.path as osp

import torch
from mmengine.dist import all_reduce, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS
from .activity import SpikeActivityRecorder, summarize_activity


def _all_reduce_rows(rows):
    """Sum the counts of every layer over processes (same model, same layer order everywhere)."""
    flat = []
    for _, _, _, nonzero, elements, steps, step_elements in rows:
        flat += [nonzero, elements, step_elements] + list(steps or ())
    totals = torch.tensor(flat, dtype=torch.float64)
    all_reduce(totals)
    values, reduced, i = totals.tolist(), [], 0
    for name, kind, type_name, _, _, steps, _ in rows:
        nonzero, elements, step_elements = values[i:i + 3]
        n_steps = len(steps or ())
        reduced.append((name, kind, type_name, nonzero, int(elements),
                        values[i + 3:i + 3 + n_steps] or None, int(step_elements)))
        i += 3 + n_steps
    return reduced


def plot_firing_rates(report: dict, path: str, title: str = '') -> str:
    """Per-layer bar plot of neuron firing rates and Conv/Linear input non-zero rates, plus a
    layer x time-step heat map of the firing rates, saved as a PNG at ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    neurons, inputs = report['layers'], report.get('inputs', [])
    per_step = [r['per_step'] for r in neurons if r.get('per_step')]
    rows = max(len(neurons), len(inputs), 1)
    width = 3 if per_step else 2
    fig, axes = plt.subplots(1, width, figsize=(6 * width, 1.5 + 0.22 * rows), squeeze=False)
    for ax, layers, key, label, colour in (
            (axes[0, 0], neurons, 'firing_rate', 'neuron firing rate', 'tab:blue'),
            (axes[0, 1], inputs, 'nonzero_rate', 'Conv/Linear input non-zero rate', 'tab:orange')):
        names = [r['name'] for r in layers]
        ax.barh(range(len(layers)), [r[key] for r in layers], color=colour)
        ax.set_yticks(range(len(layers)), names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.set_xlim(0, 1.0 if key == 'nonzero_rate' else max([r[key] for r in layers] + [0.05])
                    * 1.1)
    if per_step:
        ax = axes[0, 2]
        width_steps = max(len(s) for s in per_step)
        grid = [s + [float('nan')] * (width_steps - len(s)) for s in per_step]
        image = ax.imshow(grid, aspect='auto', cmap='viridis', interpolation='nearest')
        ax.set_xlabel('time step')
        ax.set_ylabel('neuron layer (same order)')
        fig.colorbar(image, ax=ax, label='firing rate')
    fig.suptitle(title or f'mean firing rate {report["firing_rate_mean"]:.4f} '
                 f'(overall {report["firing_rate_overall"]:.4f})')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@HOOKS.register_module()
class FiringRateHook(Hook):
    """Record spike activity over the val/test set: firing rate of every spiking neuron layer and
    non-zero rate of the input of every Conv/Linear layer, per layer and per time step.

    Rates are totals over the whole evaluation set (and over processes under DDP): a layer's
    firing rate is (spikes emitted) / (neuron-steps).  ``firing_rate_mean`` (unweighted mean over
    neuron layers) and ``firing_rate_overall`` (over all neuron-steps) are logged with, and added
    to, the val/test metrics; every per-layer rate goes to the visualizer's backends (TensorBoard,
    W&B, ...) as ``<mode>/firing_rate/<layer>`` and ``<mode>/input_rate/<layer>``.  The full table
    (with per-step rates) is written to ``<work_dir>/firing_rates.json`` and drawn in
    ``<work_dir>/firing_rates.png``.  Nothing is recorded during training.

    Args:
        enabled (bool): False switches the hook off (no forward hooks are installed at all).
        plot (bool): write the PNG plot.
        log_per_layer (bool): send per-layer rates to the visualizer backends.
    """

    priority = 'NORMAL'

    def __init__(self, enabled=True, plot=True, log_per_layer=True):
        self.enabled = enabled
        self.plot = plot
        self.log_per_layer = log_per_layer
        self._recorder = None

    def _start(self, runner):
        if not self.enabled:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._recorder = SpikeActivityRecorder(model)
        self._recorder.start()

    def _finish(self, runner, mode, metrics):
        if not self.enabled or self._recorder is None:
            return
        recorder, self._recorder = self._recorder, None
        recorder.stop()
        rows = recorder.counts()
        if not any(kind == 'neuron' for _, kind, *_ in rows):
            runner.logger.warning('FiringRateHook: the model has no spiking neuron layers '
                                  '(or the evaluation set was empty)')
            return
        report = summarize_activity(_all_reduce_rows(rows))
        mean_rate, overall = report['firing_rate_mean'], report['firing_rate_overall']
        runner.message_hub.update_scalar(f'{mode}/firing_rate_mean', mean_rate)
        runner.message_hub.update_scalar(f'{mode}/firing_rate_overall', overall)
        if metrics is not None:  # the loop returns this dict: runner.test() reports the rates
            metrics.update(firing_rate_mean=mean_rate, firing_rate_overall=overall)
        if not is_main_process():
            return
        report = dict(mode=mode, **report)
        path = osp.join(runner.work_dir, 'firing_rates.json')
        with open(path, 'w') as f:
            json.dump(report, f, indent=2)
        if self.log_per_layer:
            scalars = {f'{mode}/firing_rate/{r["name"]}': r['firing_rate']
                       for r in report['layers']}
            scalars.update({f'{mode}/input_rate/{r["name"]}': r['nonzero_rate']
                            for r in report['inputs']})
            runner.visualizer.add_scalars(scalars, step=runner.epoch if mode == 'val' else 0)
        plotted = ''
        if self.plot:
            plotted = ', plot: ' + plot_firing_rates(
                report, osp.join(runner.work_dir, 'firing_rates.png'))
        runner.logger.info(
            f'FiringRateHook: {len(report["layers"])} neuron layers, mean firing rate '
            f'{mean_rate:.4f} (overall {overall:.4f}), {len(report["inputs"])} Conv/Linear '
            f'inputs; per layer and time step: {path}{plotted}')

    def before_val_epoch(self, runner):
        self._start(runner)

    def before_test_epoch(self, runner):
        self._start(runner)

    def after_val_epoch(self, runner, metrics=None):
        self._finish(runner, 'val', metrics)

    def after_test_epoch(self, runner, metrics=None):
        self._finish(runner, 'test', metrics)
