"""Convert an official SVFormer checkpoint (github yult0821/SVFormer) to an mmspike checkpoint.

    python tools/convert_svformer.py SRC.pyth DST.pth [--head-dim 64] [--allow-pickle]

The command line of :func:`mmspike.backbones.svformer_conversion.convert_checkpoint`.  SRC is
what the official SlowFast code writes (``{'model_state': ..., 'cfg': ..., ...}``, e.g.
``checkpoints/best_Valtop1Err_checkpoint.pyth``) for its model ``Uniformer2d_psnn_try``; a bare
state dict also works, and a DDP ``module.`` prefix is dropped.  DST holds ``{'state_dict': ...,
'meta': ...}`` for an mmspike ``Recognizer3D`` with the ``SVFormer`` backbone and
``SVFormerHead``: use it with ``load_from=DST`` (or ``tools/test.py CONFIG DST``).  The model
sizes are read from the tensor shapes, the converted tensors are checked against an mmspike
model built with them (strict), and the matching mmspike model config is printed and stored in
``meta['model_cfg']``.

The head width of the attention stages is not stored in the tensors: it comes from the
checkpoint's own ``cfg`` (``UNIFORMER.HEAD_DIM``) when present, else from ``--head-dim``
(default 64, the official default and the released UCF101 model: 6 and 8 heads).

SRC is read with mmspike's safe loader (``weights_only=True``): the official format holds only
tensors, numbers and strings.  ``--allow-pickle`` (or ``MMSPIKE_TRUST_CHECKPOINTS=1``) lifts
that for a *trusted* file.
"""
import argparse
import sys

from mmspike.backbones.svformer_conversion import convert_checkpoint, format_model_cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint (.pyth)')
    parser.add_argument('dst', help='mmspike checkpoint to write')
    parser.add_argument('--head-dim', type=int, default=None,
                        help='channels per attention head (default: the checkpoint cfg, else 64)')
    parser.add_argument('--allow-pickle', action='store_true',
                        help='load SRC with weights_only=False (only for a trusted file)')
    args = parser.parse_args(argv)
    try:
        model_cfg = convert_checkpoint(args.src, args.dst, args.head_dim, args.allow_pickle)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'convert_svformer: error: {error}')
    print(f'wrote {args.dst}; matching mmspike model config:\n{format_model_cfg(model_cfg)}')


if __name__ == '__main__':
    main()
