"""Write the synthetic motion-clips video dataset
(:func:`mmspike.datasets.synthetic.motion_clips.write_dataset`).

    python tools/make_demo_dataset.py [--root data/motion_clips] [--seed 0]
        [--train-per-class 40] [--val-per-class 10] [--test-per-class 20] [--frames 16] [--size 64]

``tools/train.py`` and ``tools/test.py`` write the demo configs' dataset on first use (their
``embedded_dataset``); this tool writes one of any size.
"""
import argparse
import sys

from mmspike.datasets.synthetic.motion_clips import write_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='data/motion_clips', help='output directory')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--train-per-class', type=int, default=40)
    parser.add_argument('--val-per-class', type=int, default=10)
    parser.add_argument('--test-per-class', type=int, default=20)
    parser.add_argument('--frames', type=int, default=16, help='frames per clip')
    parser.add_argument('--size', type=int, default=64, help='frame height and width')
    parser.add_argument('--fps', type=float, default=8.0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        write_dataset(args.root, train_per_class=args.train_per_class,
                      val_per_class=args.val_per_class, test_per_class=args.test_per_class,
                      num_frames=args.frames, size=args.size, seed=args.seed, fps=args.fps)
    except (ValueError, FileExistsError) as error:
        sys.exit(f'make_demo_dataset: {error}')


if __name__ == '__main__':
    main()
