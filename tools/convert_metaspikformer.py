"""Convert a Meta-SpikeFormer (Spike-Driven Transformer V2) ImageNet checkpoint for
SpikeVideoFormer.

    python tools/convert_metaspikformer.py SRC.pth DST.pth [--keep-head]

Then ``model.backbone.init_cfg=dict(type='Pretrained', checkpoint='DST.pth')``.  Prints the
source keys it skipped; the SDHA BatchNorms (``attn.attn_bn``) do not exist in Meta-SpikeFormer
and keep their initialisation.
"""
import argparse

import torch

from mmspike.backbones.spikevideoformer import convert_metaspikformer_state_dict
from mmspike.engine.checkpoint import load_checkpoint_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--keep-head', action='store_true',
                        help='keep the 1000-class ImageNet head as head.*')
    args = parser.parse_args(argv)
    # weights_only=True with the runner allowlist; a release that pickles more (e.g. an
    # argparse Namespace) needs MMSPIKE_TRUST_CHECKPOINTS=1, and the error says so
    checkpoint = load_checkpoint_file(args.src, map_location='cpu')
    state = checkpoint.get('model', checkpoint.get('state_dict', checkpoint)) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{args.src} holds no state dict (expected keys "model", "state_dict" '
                         'or parameter names)')
    converted, skipped = convert_metaspikformer_state_dict(state, args.keep_head)
    if not converted:
        raise ValueError(f'no key of {args.src} looks like Meta-SpikeFormer '
                         f'(first keys: {list(state)[:5]})')
    torch.save(dict(state_dict=converted, meta=dict(source=args.src)), args.dst)
    print(f'wrote {len(converted)} tensors to {args.dst}; skipped {len(skipped)}: '
          f'{skipped[:10]}{" ..." if len(skipped) > 10 else ""}')


if __name__ == '__main__':
    main()
