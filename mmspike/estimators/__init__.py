"""Task models (estimators) that subclass a codebase's own model classes, one sub-package per
task:

* ``mmspike.estimators.pose`` (MMPose ``PoseLifter``): :class:`VideoPoseLifter`;
* ``mmspike.estimators.seg`` (MMSeg ``EncoderDecoder``): :class:`VideoEncoderDecoder`.

Both take clips batched by the core
:class:`mmspike.data_preprocessors.ClipDataPreprocessor`.  Action
recognition uses MMAction2's own recognizers; ``mmspike.estimators.action`` adds
:class:`StreamingRecognizer`, frame-by-frame inference for causal ones (a wrapper, nothing
registered).

Each sub-package imports its codebase and registers its classes in that codebase's ``MODELS``
registry; ``import mmspike`` alone imports none of them.  :mod:`mmspike.estimators.streaming`
(task-agnostic) says what keeps a backbone and neck from running frame by frame.
"""
