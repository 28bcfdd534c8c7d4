"""BasePictureHook: the shared walk over a test iteration's outputs (budget, one clip per
sequence, file stems, refusal of a whole iteration, the summary), with a hook that writes text
files; its switches (those the stock test tools set), the segmentation hook's directory from the
visualizer, and ``add_show_hook`` switching on the runtime bases' visualization hook."""
import os.path as osp
from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from mmengine.structures import BaseDataElement

from helpers import REPO
from mmspike.hooks.picture_hook import BasePictureHook


class TextHook(BasePictureHook):
    """Writes ``<stem>.txt`` per sample that has a ``text`` field."""

    sequence_key = 'scene'

    def __init__(self, out_dir, max_clips=2, can_draw=True, **kwargs):
        super().__init__(out_dir, max_clips, **kwargs)
        self.can_draw = can_draw

    def _can_draw(self, runner):
        if not self.can_draw:
            self._warn(runner, 'off', 'drawing is off')
        return self.can_draw

    def _draw_sample(self, runner, sample):
        if 'text' not in sample:
            self._warn(runner, 'no-text', 'a sample without text')
            return
        if self._drawn_before(sample.metainfo):
            return
        path = f'{self._directory}/{self._stem(sample.metainfo, len(self.written))}.txt'
        with open(path, 'w') as f:
            f.write(sample.text)
        self._record(runner, path, sample.metainfo)

    def _summary(self):
        return f'{len(self.written)} text file(s)'


def sample(text=None, **meta):
    element = BaseDataElement(metainfo=meta)
    if text is not None:
        element.text = text
    return element


def runner_in(work_dir):
    work_dir.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(work_dir=str(work_dir), logger=Mock(spec=['info', 'warning']))


def logged(runner, level):
    return [call.args[0] for call in getattr(runner.logger, level).call_args_list]


def test_one_clip_per_sequence_within_the_budget(tmp_path):
    runner = runner_in(tmp_path)
    (tmp_path / 'vis').mkdir()
    hook = TextHook('vis', max_clips=2)
    hook.before_test(runner)
    batch = [sample(), sample('a', scene='hall 1', frame_ids=[7, 8]),
             sample('b', scene='hall 1', frame_ids=[9, 10]), sample(),
             sample('c', frame_ids=[3]), sample('d', scene='yard', frame_ids=[0])]
    hook.after_test_iter(runner, 0, None, batch)
    # 'hall 1' once (characters other than letters, digits, '.', '-' become '_'); a sample
    # without a sequence is named by its index; the budget of 2 stops before 'yard'
    assert hook.written == [str(tmp_path / 'vis' / 'hall_1_7.txt'),
                            str(tmp_path / 'vis' / 'clip0001_3.txt')]
    assert (tmp_path / 'vis' / 'hall_1_7.txt').read_text() == 'a'
    assert hook._sequences == {'hall 1'}
    # one warning for both samples without text
    assert logged(runner, 'warning') == ['TextHook: a sample without text']
    assert logged(runner, 'info') == [f'TextHook: wrote {path}' for path in hook.written]
    hook.after_test_iter(runner, 1, None, [sample('e', scene='garden')])  # budget spent
    assert len(hook.written) == 2
    hook.after_test(runner)
    assert logged(runner, 'info')[-1] == 'TextHook: 2 text file(s)'


def test_without_before_test_and_refused_iterations(tmp_path):
    runner = runner_in(tmp_path)
    hook = TextHook(str(tmp_path), can_draw=False)
    hook.after_test_iter(runner, 0, None, [sample('a', scene='s')])
    hook.after_test_iter(runner, 1, None, [sample('b', scene='s')])
    assert hook.written == [] and logged(runner, 'warning') == ['TextHook: drawing is off']
    hook.can_draw = True
    hook.after_test_iter(runner, 2, None, [])  # no outputs: nothing to do
    hook.after_test_iter(runner, 3, None, [sample('c', scene='s')])
    assert hook.written == [str(tmp_path / 's.txt')]


@pytest.mark.parametrize('kwargs, message', [
    (dict(out_dir=''), 'out_dir must be a non-empty path'),
    (dict(out_dir='vis', max_clips=-1), 'max_clips must be an int >= 0, got -1'),
    (dict(out_dir='vis', max_clips=True), 'max_clips must be an int >= 0, got True'),
])
def test_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextHook(**kwargs)


@pytest.mark.parametrize('kwargs, message', [
    (dict(out_dir='vis', interval=0), 'interval must be an int >= 1, got 0'),
    (dict(out_dir='vis', wait_time=-1), 'wait_time must be a number >= 0, got -1'),
    (dict(out_dir=3), 'out_dir must be a non-empty path or None, got 3'),
])
def test_switch_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BasePictureHook(**kwargs)


def run_test_loop(hook, runner, batches):
    hook.before_test(runner)
    for index, batch in enumerate(batches):
        hook.after_test_iter(runner, index, None, batch)
    hook.after_test(runner)


def test_switched_off_hook_writes_nothing_and_either_switch_turns_it_on(tmp_path):
    """The runtime bases' default: enable=False, draw=False.  MMPose's stock test.py turns on
    ``enable``, MMSeg's ``draw``."""
    batches = [[sample('a', scene='s1')], [sample('b', scene='s2')]]
    runner = runner_in(tmp_path / 'off')
    hook = TextHook('vis', max_clips=4, enable=False)
    assert not hook.active
    run_test_loop(hook, runner, batches)
    assert hook.written == [] and not (tmp_path / 'off' / 'vis').exists()
    assert logged(runner, 'info') == [] and logged(runner, 'warning') == []
    for switch in ('enable', 'draw'):
        runner = runner_in(tmp_path / switch)
        (tmp_path / switch / 'vis').mkdir()
        hook = TextHook('vis', max_clips=4, **{'enable': False, switch: True})
        run_test_loop(hook, runner, batches)
        assert [osp.basename(p) for p in hook.written] == ['s1.txt', 's2.txt'], switch


def test_interval_and_a_missing_directory(tmp_path):
    runner = runner_in(tmp_path)
    (tmp_path / 'vis').mkdir()
    hook = TextHook('vis', max_clips=4, interval=2)
    run_test_loop(hook, runner, [[sample(t, scene=t)] for t in 'abcde'])
    assert [osp.basename(p) for p in hook.written] == ['a.txt', 'c.txt', 'e.txt']
    # enabled without a directory (MMPose's --show without --show-dir): one warning, no files
    runner = runner_in(tmp_path / 'nodir')
    hook = TextHook(None)
    run_test_loop(hook, runner, [[sample('a', scene='s')], [sample('b', scene='t')]])
    assert hook.written == []
    assert logged(runner, 'warning') == ['TextHook: no output directory (give tools/test.py '
                                         '--show-dir DIR): nothing written']


def test_seg_hook_takes_the_visualizer_save_dir(tmp_path):
    """MMSeg's stock test.py --show-dir DIR sets ``draw`` and ``visualizer.save_dir``."""
    from mmspike.hooks.seg import SegClipVisualizationHook
    hook = SegClipVisualizationHook(enable=False, draw=True)
    cfg = dict(visualizer=dict(type='SegLocalVisualizer', save_dir=str(tmp_path / 'show')))
    runner = SimpleNamespace(work_dir=str(tmp_path), cfg=cfg, logger=Mock(),
                             visualizer=None, test_dataloader=SimpleNamespace(
                                 dataset=SimpleNamespace(metainfo={})))
    hook.before_test(runner)
    assert hook._directory == str(tmp_path / 'show')
    runner.cfg = dict(visualizer=dict(type='SegLocalVisualizer'))
    hook.before_test(runner)
    assert hook._directory is None
    # an explicit out_dir wins
    hook = SegClipVisualizationHook('vis')
    runner.cfg = cfg
    hook.before_test(runner)
    assert hook._directory == str(tmp_path / 'vis')


@pytest.mark.parametrize('config, hook_type', [
    ('spikevideoformer_pose_demo.py', 'PoseVideoHook'),
    ('spikevideoformer_seg_demo.py', 'SegClipVisualizationHook')])
def test_add_show_hook_switches_on_the_default_visualization_hook(config, hook_type, tmp_path):
    from mmengine.config import Config

    from mmspike.engine.runner import add_show_hook
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    assert cfg.default_hooks.visualization.type == hook_type
    assert not cfg.default_hooks.visualization.enable
    cfg.work_dir = str(tmp_path)
    out_dir = add_show_hook(cfg, 'vis')
    assert out_dir == str(tmp_path / 'vis')
    assert cfg.default_hooks.visualization.enable
    assert cfg.default_hooks.visualization.out_dir == out_dir
    assert hook_type not in [h['type'] for h in cfg.custom_hooks]
    # a config without the default hook gets one in custom_hooks
    cfg.default_hooks.pop('visualization')
    assert add_show_hook(cfg, str(tmp_path / 'abs')) == str(tmp_path / 'abs')
    assert cfg.custom_hooks[-1] == dict(type=hook_type, out_dir=str(tmp_path / 'abs'))
