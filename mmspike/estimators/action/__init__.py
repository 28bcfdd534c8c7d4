"""Action recognition with spiking backbones (MMAction2): :class:`StreamingRecognizer`, which
runs a causal MMAction2 recognizer (causal backbone, no neck, causal head such as
:class:`~mmspike.heads.action.SpikingClsHead`) on a video one frame at a time.  It wraps the
recognizer built from a config (MMAction2's ``Recognizer3D``) and registers nothing."""
from ...engine.compat import prepare_codebase

prepare_codebase('action')  # before MMAction2 is imported

from .streaming_recognizer import StreamingRecognizer  # noqa: E402

__all__ = ['StreamingRecognizer']
