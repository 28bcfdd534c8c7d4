"""Evaluation-time overhead of FiringRateHook's recording and of SpikeEnergyMetric's counting.

    python tools/benchmark_activity.py [CONFIG] [CHECKPOINT] [--batch-size 16] [--repeats 5]

Times ``model.test_step`` on one real test batch of the config (the demo config by default) in
three settings, interleaved round by round so that drift hits all of them alike:
plain, with FiringRateHook's recorder (:class:`mmspike.hooks.activity.SpikeActivityRecorder`),
and with SpikeEnergyMetric's counter (:class:`mmspike.energy.EnergyCounter`).  Prints the medians
and the ratios to the plain run, measured in this one run.  FiringRateHook(enabled=False) installs
no hooks at all, so its cost is the plain run's.
"""
import argparse
import statistics
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default='configs/svformer_demo.py')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args(argv)

    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS

    from mmspike.apis import init_model
    from mmspike.apis.model import config_scope
    from mmspike.datasets.synthetic import prepare_embedded_dataset
    from mmspike.energy import EnergyCounter
    from mmspike.hooks.activity import SpikeActivityRecorder
    from mmspike.neurons import reset_neurons

    model = init_model(args.config, args.checkpoint)
    cfg = model.cfg
    prepare_embedded_dataset(cfg)
    with config_scope(cfg):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        batch = pseudo_collate([dataset[i] for i in range(min(args.batch_size, len(dataset)))])
    recorder = SpikeActivityRecorder(model)

    def plain():
        model.test_step(batch)

    def with_recorder():
        recorder.start()
        model.test_step(batch)
        recorder.stop()

    def with_energy():
        with EnergyCounter(model):
            model.test_step(batch)

    settings = [('plain', plain), ('FiringRateHook recording', with_recorder),
                ('SpikeEnergyMetric counting', with_energy)]
    times = {name: [] for name, _ in settings}
    with torch.no_grad():
        plain()  # warm-up
        for _ in range(args.repeats):
            for name, run in settings:
                reset_neurons(model)
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times['plain'])
    print(f'{args.config}: batch of {len(batch["inputs"])} test clips, '
          f'{args.repeats} interleaved rounds, torch threads {torch.get_num_threads()}')
    for name, _ in settings:
        median = statistics.median(times[name])
        print(f'{name:<28} median {median:7.3f} s   ratio to plain {median / base:5.3f}')


if __name__ == '__main__':
    main()
