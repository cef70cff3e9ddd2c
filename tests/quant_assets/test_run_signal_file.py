"""``quant run`` backtests the demo's signal file against the demo's bar store."""

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.signals import read_signal_file

README_CONFIG = """
data: {source: store}                 # QUANT_HOME/assets/raw_bars.parquet
strategy: {name: signals, path: .quant/signals/signals.parquet}   # saved where quant demo ran
portfolio: {mode: long_short, top_k: 4}
"""


def _config(tmp_path: Path, simulator: str) -> Path:
    """The README's example, in the folder whose ``.quant`` is the demo's home."""
    config = yaml.safe_load(README_CONFIG)
    config["run"] = {"name": f"demo-{simulator}", "simulator": simulator, "artifacts_dir": "out"}
    config["costs"] = {"commission_bps": 1.0, "half_spread_bps": 2.0, "impact_coef": 0.1}
    path = tmp_path / f"{simulator}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_quant_run_backtests_the_demos_signal_file(
    materialized_home, tmp_path, capsys, monkeypatch
):
    (tmp_path / ".quant").symlink_to(materialized_home)  # as if quant demo ran in tmp_path
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_HOME", raising=False)
    summaries = {}
    for simulator in ("event_driven", "vectorized"):
        assert main(["run", "-c", str(_config(tmp_path, simulator))]) == 0
        summaries[simulator] = json.loads(capsys.readouterr().out)
    event, vector = summaries["event_driven"], summaries["vectorized"]
    assert event["status"] == "completed" and event["metrics"]["n_fills"] > 50
    for key in ("total_return", "sharpe", "max_drawdown", "final_equity", "avg_daily_turnover"):
        assert event["metrics"][key] == pytest.approx(vector["metrics"][key], rel=1e-9), key
    folder = Path(event["artifacts"])
    assert folder.parent == tmp_path / "out"  # the demo's home is left as the pipeline made it
    signals = read_signal_file(materialized_home / "signals" / "signals.parquet")
    trades = pl.read_parquet(folder / "trades.parquet")
    # every fill was decided on a scored day and filled at a later bar
    assert set(trades["decided_at"]) <= set(signals["timestamp"])
    assert (trades["timestamp"] > trades["decided_at"]).all()
    trips = pl.read_parquet(folder / "round_trips.parquet")
    assert trips.filter(pl.col("exit_reason") == "signal").height > 10
    exported = pl.read_parquet(folder / "signals.parquet").drop_nulls("score")
    assert exported.height == signals.height  # the file's scores, all inside the demo's bars
