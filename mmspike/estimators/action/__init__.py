"""Action recognition with spiking backbones (MMAction2): :class:`StreamingRecognizer`, which
runs a causal MMAction2 recognizer (causal backbone, no neck, causal head such as
:class:`~mmspike.heads.action.SpikingClsHead`) on a video one frame at a time.  It wraps the
recognizer built from a config (MMAction2's ``Recognizer3D``) and registers nothing."""
from .streaming_recognizer import StreamingRecognizer

__all__ = ['StreamingRecognizer']
