import json

import pytest

from quant_engine.io import atomic_path, write_json


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a rep")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_successful_write_replaces_the_file(tmp_path):
    target = tmp_path / "report.json"
    write_json(target, {"version": 1})
    write_json(target, {"version": 2})
    assert json.loads(target.read_text()) == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
