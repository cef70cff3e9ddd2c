"""``quant train --family NAME`` trains one family in the instance and decides its promotion."""

import shutil

import dagster as dg

from quant_assets.cli import main


def test_quant_train_one_family(materialized_home, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    shutil.copytree(materialized_home, home)
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored after the test
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "--family", "ridge"]) == 0
    out = capsys.readouterr().out
    assert "alpha_ridge: models:/quant_alpha/2 rank IC" in out, out
    assert "champion: models:/quant_alpha/" in out
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        assert instance.get_latest_materialization_event(dg.AssetKey("alpha_ridge")) is not None


def test_quant_train_needs_features_first(quant_home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["train", "--family", "lstm"]) == 2
    assert "run `quant demo` first" in capsys.readouterr().err
