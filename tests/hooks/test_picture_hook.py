"""BasePictureHook: the shared walk over a test iteration's outputs (budget, one clip per
sequence, file stems, refusal of a whole iteration, the summary), with a hook that writes text
files."""
from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from mmengine.structures import BaseDataElement

from mmspike.hooks.picture_hook import BasePictureHook


class TextHook(BasePictureHook):
    """Writes ``<stem>.txt`` per sample that has a ``text`` field."""

    sequence_key = 'scene'

    def __init__(self, out_dir, max_clips=2, can_draw=True):
        super().__init__(out_dir, max_clips)
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
