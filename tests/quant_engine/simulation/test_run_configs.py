"""Run configs at the boundary: every bad value is one line naming its key, exit status 2;
manifests identify runs; one trade and metrics schema; strict JSON; data selection."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.simulation.records import TRADE_COLUMNS
from tests.conftest import REPO_ROOT

BASE = {
    "run": {"name": "cfg", "seed": 1, "artifacts_dir": "out"},
    "data": {"source": "synthetic", "n_symbols": 4, "n_days": 260, "seed": 2},
    "strategy": {"name": "sma_crossover", "params": {"fast": 5, "slow": 20}},
    "portfolio": {"mode": "long_only", "allocation": "per_symbol"},
    "costs": {"commission_bps": 5.0, "half_spread_bps": 0.0, "impact_coef": 0.0},
    "walk_forward": {"train_bars": 100, "test_bars": 50, "grid": {"fast": [3, 5]}},
}


def _write(tmp_path: Path, config, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _with(section: str, **values) -> dict:
    return {**BASE, section: {**BASE.get(section, {}), **values}}


def _bar_directory(tmp_path: Path, n_symbols: int = 3, n_days: int = 200) -> Path:
    bars = generate_market(SyntheticMarketConfig(n_symbols=n_symbols, n_days=n_days, seed=4)).bars
    directory = tmp_path / "bars"
    directory.mkdir(exist_ok=True)
    for (symbol,), frame in bars.group_by("symbol"):
        frame.drop("symbol").write_csv(directory / f"{symbol}.csv")
    return directory


BAD = {
    "capital_nan": (_with("simulation", capital=math.nan), "simulation.capital"),
    "capital_inf": (_with("simulation", capital=math.inf), "simulation.capital"),
    "commission_nan": (_with("costs", commission_bps=math.nan), "costs.commission_bps"),
    "impact_huge": (_with("costs", impact_coef=1e308), "impact_coef"),
    "top_level_list": ([BASE], "expected a mapping of sections"),
    "start_not_a_date": (_with("data", start="not-a-date"), "data.start"),
    "float_window": (_with("strategy", params={"fast": 5.5, "slow": 20}), "strategy.params.fast"),
    "zero_train_bars": (_with("walk_forward", train_bars=0), "train_bars"),
    "scalar_grid": (_with("walk_forward", grid={"fast": 5}), "walk_forward.grid.fast"),
    "section_not_a_mapping": ({**BASE, "costs": 5}, "costs: expected a mapping"),
    "unknown_mark": (_with("simulation", mark="sometimes"), "simulation.mark"),
    "seed_not_int": (_with("run", seed="x"), "run.seed"),
    "unknown_source": (_with("data", source="ftp"), "data.source"),
    "unknown_synthetic_key": (_with("data", directory="x"), "unknown key(s) ['directory']"),
    "symbols_not_list": (_with("data", symbols="S000"), "data.symbols"),
    "missing_symbol": (_with("data", symbols=["NOPE"]), "data.symbols"),
    "negative_cap": ({**BASE, "limits": {"max_gross_exposure": -1.0}}, "max_gross_exposure"),
    "nan_cap": ({**BASE, "limits": {"max_gross_exposure": math.nan}}, "max_gross_exposure"),
    "simulation_costs": (_with("simulation", costs={}), "simulation: unknown key(s) ['costs']"),
    "too_short_for_the_window": (_with("data", n_days=70, symbols=None), "data"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_config_is_one_line_naming_the_key_and_exit_status_2(tmp_path, capsys, case):
    config, key = BAD[case]
    if case == "too_short_for_the_window":
        config = {
            **config,
            "strategy": {"name": "sma_crossover", "params": {"fast": 5, "slow": 90}},
        }
        config = {**config, "run": {**config["run"], "simulator": "vectorized"}}
        config["data"] = {k: v for k, v in config["data"].items() if v is not None}
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("quant run: ") and key in lines[0], lines[0]
    assert captured.out == ""


def test_an_artifacts_dir_that_is_a_file_and_bad_data_are_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    config = _with("run", artifacts_dir="taken")
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "run.artifacts_dir" in line and "is a file" in line
    directory = _bar_directory(tmp_path)
    (directory / "BAD.csv").write_text(
        "timestamp,open,high,low,close,volume\n2020-01-01,1,2,x,1,5\n"
    )
    config = {**BASE, "data": {"source": "directory", "directory": "bars"}}
    path = _write(tmp_path, config, "bad_data.yaml")
    for command in ("run", "wfv"):
        assert main([command, "-c", str(path)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"quant {command}: data:") and "BAD.csv" in line
    # the installed command too: one line, no traceback
    quant = Path(sys.executable).parent / "quant"
    done = subprocess.run(
        [str(quant), "run", "-c", str(path)], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr


def test_strategy_parameter_errors_list_only_public_parameters(tmp_path, capsys):
    config = _with("strategy", params={"fast": 5, "slow": 20, "fastest": 2})
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "strategy.params: unknown key(s) ['fastest']; known: ['fast', 'slow']" in line


def test_data_selection_is_honoured_for_a_directory_and_unknown_keys_rejected(tmp_path, capsys):
    _bar_directory(tmp_path, n_symbols=4, n_days=260)
    data = {"source": "directory", "directory": "bars", "symbols": ["S001", "S003"]}
    data |= {"start": "2016-03-01", "end": "2016-10-03"}
    config = {**BASE, "data": data}
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 0
    summary = _strict(capsys.readouterr().out)
    curve = pl.read_parquet(Path(summary["artifacts"]) / "equity.parquet")
    days = curve["timestamp"].dt.date()
    assert str(days.min()) >= "2016-03-01" and str(days.max()) < "2016-10-03"
    trades = pl.read_parquet(Path(summary["artifacts"]) / "trades.parquet")
    assert set(trades["symbol"]) <= {"S001", "S003"} and trades.height > 0
    manifest = _strict((Path(summary["artifacts"]) / "manifest.json").read_text())
    assert manifest["config"]["data"]["symbols"] == ["S001", "S003"]
    bad = {**config, "data": {**data, "calendar": "XNYS"}}
    assert main(["run", "-c", str(_write(tmp_path, bad, "bad.yaml"))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "unknown key(s) ['calendar'] for source directory" in line
    synthetic = _with("data", symbols=["S000", "S002"], end="2016-06-01")
    assert main(["run", "-c", str(_write(tmp_path, synthetic, "syn.yaml"))]) == 0
    folder = Path(_strict(capsys.readouterr().out)["artifacts"])
    assert set(pl.read_parquet(folder / "trades.parquet")["symbol"]) <= {"S000", "S002"}
    assert str(pl.read_parquet(folder / "equity.parquet")["timestamp"].dt.date().max()) < "2016-06"


def test_artifacts_go_under_quant_home_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUANT_HOME", str(tmp_path / "home"))
    config = {**BASE, "run": {"name": "home"}}
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 0
    folder = Path(_strict(capsys.readouterr().out)["artifacts"])
    assert folder.parent == tmp_path / "home" / "reports" / "simulations"


def test_runs_differing_only_in_strategy_parameters_have_different_hashes(tmp_path, capsys):
    hashes = {}
    for fast in (5, 6, 5):
        config = _with("strategy", params={"fast": fast, "slow": 20})
        assert main(["run", "-c", str(_write(tmp_path, config, f"f{fast}.yaml"))]) == 0
        folder = Path(_strict(capsys.readouterr().out)["artifacts"])
        manifest = _strict((folder / "manifest.json").read_text())
        assert manifest["config"]["strategy"] == {
            "name": "sma_crossover",
            "params": {"fast": fast, "slow": 20},
        }
        assert manifest["config"]["code"]["git_sha"] == manifest["git_sha"]
        assert manifest["config"]["data"]["n_symbols"] == 4
        assert manifest["config"]["simulation"]["costs"]["commission_bps"] == 5.0
        hashes.setdefault(fast, set()).add(manifest["config_hash"])
    assert len(hashes[5]) == 1  # same config, same hash
    assert hashes[5] != hashes[6]
    other = {**_with("costs", commission_bps=6.0)}
    assert main(["run", "-c", str(_write(tmp_path, other, "costs.yaml"))]) == 0
    folder = Path(_strict(capsys.readouterr().out)["artifacts"])
    assert _strict((folder / "manifest.json").read_text())["config_hash"] not in hashes[5]


@pytest.mark.parametrize("simulator", ["event_driven", "vectorized"])
def test_one_trade_and_metrics_schema_and_strict_json_for_run_and_wfv(tmp_path, capsys, simulator):
    config = _with("run", simulator=simulator)
    path = _write(tmp_path, config)
    schemas = {}
    for command in ("run", "wfv"):
        assert main([command, "-c", str(path)]) == 0
        summary = _strict(capsys.readouterr().out)
        folder = Path(summary["artifacts"])
        metrics = _strict((folder / "metrics.json").read_text())
        _strict((folder / "manifest.json").read_text())
        rows = [_strict(line) for line in (folder / "trades.jsonl").read_text().splitlines()]
        assert rows, f"{command} wrote no trades"
        assert list(rows[0])[: len(TRADE_COLUMNS)] == list(TRADE_COLUMNS)
        assert {r["side"] for r in rows} == {"buy", "sell"}
        assert all(r["decided_at"] < r["timestamp"] for r in rows)
        running = np.cumsum([r["realized_pnl"] for r in rows])
        np.testing.assert_allclose([r["cum_realized_pnl"] for r in rows], running, rtol=1e-12)
        table = pl.read_parquet(folder / "trades.parquet")
        assert table.columns[: len(TRADE_COLUMNS)] == list(TRADE_COLUMNS)
        assert table.height == len(rows)
        capital = 1_000_000.0
        assert capital * (1 + metrics["total_return"]) == pytest.approx(
            metrics["final_equity"], rel=1e-12
        )
        assert metrics["n_fills"] == len(rows)
        schemas[command] = sorted(metrics)
        if command == "wfv":
            _strict((folder / "folds.json").read_text())
            test_starts = [fold["test"][0] for fold in summary["folds"]]
            assert all(str(r["timestamp"]) >= test_starts[0] for r in rows)  # out of sample
    assert schemas["run"] == schemas["wfv"]


def test_event_driven_and_vectorized_runs_share_their_metrics_schema(tmp_path, capsys):
    keys = []
    for simulator in ("event_driven", "vectorized"):
        path = _write(tmp_path, _with("run", simulator=simulator), f"{simulator}.yaml")
        assert main(["run", "-c", str(path)]) == 0
        metrics = _strict(capsys.readouterr().out)["metrics"]
        keys.append(sorted(metrics))
    assert keys[0] == keys[1]


def test_the_shipped_config_runs_at_the_exposure_it_documents(tmp_path, capsys):
    shipped = REPO_ROOT / "configs" / "sma_crossover.yaml"
    assert main(["run", "-c", str(shipped), "--out", str(tmp_path)]) == 0
    folder = Path(_strict(capsys.readouterr().out)["artifacts"])
    curve = pl.read_parquet(folder / "equity.parquet")
    gross = (curve["gross_exposure"] / curve["equity_close"]).to_numpy()
    invested = gross[gross > 0]
    assert invested.max() <= 1.0 + 1e-9
    documented = yaml.safe_load(shipped.read_text())
    assert documented["limits"]["max_gross_exposure"] == 1.0
    text = shipped.read_text()
    mean = float(text.split("average gross exposure ")[1].split()[0])
    assert gross.mean() == pytest.approx(mean, abs=0.01)


def test_a_directory_with_a_late_listing_a_gap_and_a_short_file_trades_every_name(tmp_path, capsys):
    directory = _bar_directory(tmp_path, n_symbols=3, n_days=300)
    late = pl.read_csv(directory / "S001.csv")
    late.slice(120).write_csv(directory / "S001.csv")  # listed 120 days after the others
    gapped = pl.read_csv(directory / "S002.csv")
    gapped.filter(~pl.int_range(pl.len()).is_in([100, 101, 150, 200])).write_csv(
        directory / "S002.csv"
    )
    pl.read_csv(directory / "S000.csv").slice(290).with_columns(
        pl.lit(1.0).alias("volume")
    ).write_csv(directory / "TINY.csv")  # a week of bars next to the rest
    config = {**BASE, "data": {"source": "directory", "directory": "bars"}}
    metrics = {}
    for simulator in ("event_driven", "vectorized"):
        path = _write(tmp_path, _with("run", simulator=simulator) | {"data": config["data"]})
        assert main(["run", "-c", str(path)]) == 0
        summary = _strict(capsys.readouterr().out)
        trades = pl.read_parquet(Path(summary["artifacts"]) / "trades.parquet")
        assert {"S000", "S001", "S002"} <= set(trades["symbol"]), simulator
        last_gap = str(gapped["timestamp"][200])[:10]
        after = trades.filter(pl.col("symbol") == "S002")["timestamp"].dt.date().cast(pl.String)
        late_after = after.filter(after > last_gap)
        assert late_after.len() > 2
        metrics[simulator] = summary["metrics"]
    for key in ("total_return", "sharpe", "final_equity", "n_fills"):
        assert metrics["event_driven"][key] == pytest.approx(metrics["vectorized"][key], rel=1e-9)


def test_a_synthetic_market_starts_where_the_selection_does(tmp_path, capsys):
    config = _with("data", start="2017-01-02")
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 0
    folder = Path(_strict(capsys.readouterr().out)["artifacts"])
    curve = pl.read_parquet(folder / "equity.parquet")
    assert str(curve["timestamp"].dt.date().min()) == "2017-01-02"
    assert curve.height == 260
