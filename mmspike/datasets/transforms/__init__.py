"""Task-agnostic pipeline transforms (root ``TRANSFORMS`` registry): the frame-order control
and clip loading (:mod:`.clip_transforms`), event-camera transforms (:mod:`.event_transforms`)
and test-time noise (:mod:`.noise`).  The pose and segmentation clip transforms
(:mod:`.pose_transforms`, :mod:`.seg_transforms`) import their codebase and are registered by
the task adapters."""
from .clip_transforms import LoadClipFrames, ShuffleFrames, format_step_index
from .event_transforms import (ClipEventCounts, EventCenterCrop, EventFlip, EventRandomCrop,
                               EventRandomTemporalCrop, EventResize, FormatEventShape,
                               IntegrateEvents, LoadEvents)
from .noise import GaussianNoise, SaltPepperNoise

__all__ = ['LoadClipFrames', 'ShuffleFrames', 'format_step_index', 'ClipEventCounts',
           'EventCenterCrop', 'EventFlip', 'EventRandomCrop', 'EventRandomTemporalCrop',
           'EventResize', 'FormatEventShape', 'IntegrateEvents', 'LoadEvents', 'GaussianNoise',
           'SaltPepperNoise']
