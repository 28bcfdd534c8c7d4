"""Start a 3D pose regression head from the training split's mean pose."""
import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import HOOKS


@HOOKS.register_module()
class MeanPoseInitHook(Hook):
    """Before training from scratch, set the head's output bias to the training dataset's mean
    root-relative pose (``metainfo['mean_pose']``, ``[J, 3]``), so the first prediction is the
    mean-pose baseline instead of all joints at the root.

    A regression head with a small initial weight otherwise spends its first hundreds of
    optimizer steps moving its bias to the mean pose (AdamW moves a bias by about ``lr`` per
    step and the mean pose reaches ~0.9 m).  Nothing is changed when training resumes or starts
    from ``load_from`` (the checkpoint's bias is kept), and a missing mean pose is an error that
    says so.  The head must offer ``init_output_bias(mean_pose)``
    (:class:`~mmspike.heads.pose.SpikeTemporalRegressionHead` does).
    """

    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(runner, '_has_loaded', False) or runner.iter > 0:
            runner.logger.info('MeanPoseInitHook: weights were loaded; head bias kept')
            return
        head = getattr(model, 'head', None)
        if not hasattr(head, 'init_output_bias'):
            raise TypeError(f'MeanPoseInitHook: the model\'s head '
                            f'({type(head).__name__}) has no init_output_bias(mean_pose)')
        metainfo = getattr(runner.train_dataloader.dataset, 'metainfo', None) or {}
        mean_pose = metainfo.get('mean_pose')
        if mean_pose is None:
            raise ValueError('MeanPoseInitHook: the training dataset\'s metainfo has no '
                             'mean_pose (a pose clip dataset computes it from its training '
                             'split); remove the hook or give the dataset training poses')
        head.init_output_bias(np.asarray(mean_pose))
        runner.logger.info('MeanPoseInitHook: head output bias set to the training mean pose')
