"""Video semantic segmentation with spiking backbones (MMSeg).  Importing this package
registers, in ``mmseg.registry.MODELS``: :class:`VideoEncoderDecoder` and (through
:mod:`mmspike.heads.seg`) :class:`SpikeSegformerHead`.  Clips are batched by the core
:class:`mmspike.data_preprocessors.ClipDataPreprocessor` (root registry)."""
from ...heads.seg import SpikeSegformerHead
from .video_encoder_decoder import VideoEncoderDecoder

__all__ = ['VideoEncoderDecoder', 'SpikeSegformerHead']
