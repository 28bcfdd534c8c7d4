"""Write the synthetic motion-clips video dataset (see mmspike/datasets/synthetic/motion_clips.py).

    python tools/make_demo_dataset.py [--root data/motion_clips] [--seed 0]
        [--train-per-class 40] [--val-per-class 10] [--test-per-class 20] [--frames 16] [--size 64]

Needs only numpy and OpenCV: the generator module is loaded by its file path, so neither the
mmspike package (which pulls in torch and mmengine) nor an installed copy of it is required.
"""
import argparse
import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def load_motion_clips():
    module_path = REPO_ROOT / 'mmspike' / 'datasets' / 'motion_clips.py'
    spec = importlib.util.spec_from_file_location('_mmspike_motion_clips', module_path)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
    motion_clips = load_motion_clips()
    try:
        motion_clips.write_dataset(
            args.root, train_per_class=args.train_per_class, val_per_class=args.val_per_class,
            test_per_class=args.test_per_class, num_frames=args.frames, size=args.size,
            seed=args.seed, fps=args.fps)
    except (ValueError, FileExistsError) as error:
        sys.exit(f'make_demo_dataset: {error}')


if __name__ == '__main__':
    main()
