"""Run-time infrastructure shared by every task: safe and atomic checkpoints
(:mod:`.checkpoint`), distributed training on any backend (:mod:`.dist`), mixed precision
(:mod:`.amp`), checks before a run starts (:mod:`.run_checks`), the shared steps of the training
and test tools (:mod:`.runner`) and the version-gated repairs of upstream bugs
(:mod:`.compat`, applied by the task adapters and tools, not by ``import mmspike``)."""
