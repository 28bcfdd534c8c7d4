"""staging: write_generated_dataset reuses a complete dataset of the same meta data, rebuilds
any other in a staging directory swapped in when complete, and never replaces a foreign one."""
import json

import pytest

from mmspike.datasets.synthetic.staging import frames_written, write_generated_dataset

META = dict(generator='mmspike.toy', size=2)


def writer(calls, fail=False):
    def write_files(staging):
        calls.append(staging)
        (staging / 'a.txt').write_text('a')
        if fail:
            raise RuntimeError('disk full')
        return '1 file'
    return write_files


def test_writes_reuses_and_rebuilds(tmp_path, capsys):
    root, calls = tmp_path / 'toy', []
    assert write_generated_dataset(root, META, 'toy', lambda r: (r / 'a.txt').is_file(),
                                   writer(calls)) == META
    assert json.loads((root / 'meta.json').read_text()) == META
    assert (root / 'a.txt').read_text() == 'a' and len(calls) == 1
    assert calls[0] != root and not calls[0].exists()  # written in a staging directory
    assert '[toy] wrote 1 file to' in capsys.readouterr().out

    write_generated_dataset(root, META, 'toy', lambda r: (r / 'a.txt').is_file(), writer(calls))
    assert len(calls) == 1 and '[toy] reusing' in capsys.readouterr().out

    (root / 'a.txt').unlink()  # incomplete: rebuilt
    write_generated_dataset(root, META, 'toy', lambda r: (r / 'a.txt').is_file(), writer(calls))
    assert len(calls) == 2 and (root / 'a.txt').is_file()

    other = dict(META, size=3)  # other arguments: rebuilt with the new meta data
    write_generated_dataset(root, other, 'toy', lambda r: True, writer(calls))
    assert len(calls) == 3 and json.loads((root / 'meta.json').read_text()) == other
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy']


def test_a_failed_write_leaves_the_old_dataset(tmp_path):
    root, calls = tmp_path / 'toy', []
    write_generated_dataset(root, META, 'toy', lambda r: True, writer(calls))
    with pytest.raises(RuntimeError, match='disk full'):
        write_generated_dataset(root, dict(META, size=3), 'toy', lambda r: True,
                                writer(calls, fail=True))
    assert json.loads((root / 'meta.json').read_text()) == META
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy']


def test_a_foreign_directory_is_not_replaced(tmp_path):
    root = tmp_path / 'data'
    root.mkdir()
    (root / 'mine.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='has no toy meta.json'):
        write_generated_dataset(root, META, 'toy', lambda r: True, writer([]))
    assert (root / 'mine.txt').read_text() == 'keep'


def test_frames_written(tmp_path):
    def image(root, sequence, frame):
        return root / sequence / f'{frame}.jpg'

    def mask(root, sequence, frame):
        return root / sequence / f'{frame}.png'

    for sequence in ('a', 'b'):
        (tmp_path / sequence).mkdir()
        for frame in range(3):
            image(tmp_path, sequence, frame).touch()
            mask(tmp_path, sequence, frame).touch()
    assert frames_written(tmp_path, ['a', 'b'], 3, image, mask)
    assert not frames_written(tmp_path, ['a', 'b'], 4, image)
    mask(tmp_path, 'b', 2).unlink()
    assert frames_written(tmp_path, ['a', 'b'], 3, image)
    assert not frames_written(tmp_path, ['a', 'b'], 3, image, mask)
