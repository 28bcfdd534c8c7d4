from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..neurons.stateful import reset_neurons
from ..registry import HOOKS


@HOOKS.register_module()
class SpikeResetHook(Hook):
    """Reset the membrane state of every spiking neuron before each train/val/test iteration.

    Neuron state must not leak from one batch into the next.  mmspike's backbones also reset at
    the start of their forward; this hook covers every other neuron in the model (heads, necks,
    third-party spikingjelly layers): every module that
    :func:`~mmspike.neurons.has_spiking_state` (a :class:`~mmspike.neurons.StatefulModule`, e.g.
    any registered neuron, or a stateful spikingjelly module) is reset.
    """

    priority = 'VERY_HIGH'

    def _reset(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        reset_neurons(model)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._reset(runner)

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._reset(runner)

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._reset(runner)
