"""``quant run`` with a signal file, a user's ``module:Class`` strategy and the bar store."""

import json
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.data.store import BarStore
from quant_engine.simulation.exports import ROUND_TRIP_COLUMNS

BARS = generate_market(SyntheticMarketConfig(n_symbols=4, n_days=160, seed=8)).bars
STAMPS = BARS["timestamp"].unique().sort()


def _bar_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "bars"
    directory.mkdir(exist_ok=True)
    for (symbol,), frame in BARS.group_by("symbol"):
        frame.drop("symbol").write_parquet(directory / f"{symbol}.parquet")
    return directory


def _momentum_scores(column: str = "alpha") -> pl.DataFrame:
    """A score per bar and symbol: the trailing 10-bar return (known at the bar's close)."""
    return (
        BARS.sort("symbol", "timestamp")
        .with_columns(
            (pl.col("close") / pl.col("close").shift(10).over("symbol") - 1).alias(column)
        )
        .select("timestamp", "symbol", column)
        .drop_nulls()
    )


def _config(tmp_path: Path, strategy: dict, simulator: str = "event_driven", **sections) -> Path:
    config = {
        "run": {"name": "sig", "simulator": simulator, "artifacts_dir": "out"},
        "data": {"source": "directory", "directory": str(_bar_directory(tmp_path))},
        "strategy": strategy,
        "portfolio": {"mode": "long_only", "top_k": 1},
        "costs": {"commission_bps": 2.0, "half_spread_bps": 1.0, "impact_coef": 0.0},
        **sections,
    }
    path = tmp_path / f"{simulator}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(path: Path, capsys) -> dict:
    assert main(["run", "-c", str(path)]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _error(path: Path, capsys) -> str:
    assert main(["run", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    return lines[0]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_signal_file_runs_in_both_simulators_and_they_agree(tmp_path, capsys, suffix):
    file = tmp_path / f"scores{suffix}"
    scores = _momentum_scores()
    scores.write_parquet(file) if suffix == ".parquet" else scores.write_csv(file)
    strategy = {"name": "signals", "path": file.name, "score": "alpha"}
    summaries = {}
    for simulator in ("event_driven", "vectorized"):
        summaries[simulator] = _run(_config(tmp_path, strategy, simulator), capsys)
    event, vector = summaries["event_driven"], summaries["vectorized"]
    assert event["metrics"]["n_fills"] > 10
    for key in ("total_return", "sharpe", "max_drawdown", "final_equity"):
        assert event["metrics"][key] == pytest.approx(vector["metrics"][key], rel=1e-9)
    folder = Path(event["artifacts"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["strategy"]["path"] == str(file)
    assert manifest["config"]["strategy"]["rows"] == scores.height
    for summary in summaries.values():  # both simulators write the same exports
        run = Path(summary["artifacts"])
        signals = pl.read_parquet(run / "signals.parquet")
        assert signals.columns == ["timestamp", "symbol", "score", "eligible"]
        trips = pl.read_parquet(run / "round_trips.parquet")
        assert trips.columns == list(ROUND_TRIP_COLUMNS) and trips.height > 5
    vector_signals = pl.read_parquet(Path(vector["artifacts"]) / "signals.parquet")
    assert pl.read_parquet(folder / "signals.parquet").equals(vector_signals)
    event_signals = vector_signals.drop_nulls("score")
    expected = scores.rename({"alpha": "score"}).sort("timestamp", "symbol")
    assert event_signals.select(expected.columns).sort("timestamp", "symbol").equals(expected)


def test_a_score_stamped_t_trades_at_the_next_open(tmp_path, capsys):
    """One day of scores: bought at the next open, sold at the open after (no scores then)."""
    t = STAMPS[100]
    table = pl.DataFrame(
        {"timestamp": [t] * 4, "symbol": ["S000", "S001", "S002", "S003"], "score": [0, 3, 1, 2]}
    ).with_columns(pl.col("score").cast(pl.Float64))
    table.write_parquet(tmp_path / "one_day.parquet")
    for simulator in ("event_driven", "vectorized"):
        config = _config(tmp_path, {"name": "signals", "path": "one_day.parquet"}, simulator)
        folder = Path(_run(config, capsys)["artifacts"])
        trades = pl.read_parquet(folder / "trades.parquet")
        signals = pl.read_parquet(folder / "signals.parquet")
        assert signals["timestamp"].min() == t and signals.drop_nulls("score").height == 4
        assert trades["symbol"].to_list() == ["S001", "S001"], simulator
        assert trades["side"].to_list() == ["buy", "sell"]
        assert trades["decided_at"].to_list() == [t, STAMPS[101]]
        assert trades["timestamp"].to_list() == [STAMPS[101], STAMPS[102]]
        opens = BARS.filter(pl.col("symbol") == "S001", pl.col("timestamp").is_in(STAMPS[101:103]))
        assert trades["price"].to_list() == opens.sort("timestamp")["open"].to_list()


def test_dates_and_zoneless_times_are_utc_and_null_scores_are_none(tmp_path, capsys):
    scores = _momentum_scores("score")
    scores.write_parquet(tmp_path / "utc.parquet")
    as_dates = scores.with_columns(pl.col("timestamp").dt.date())
    as_dates.with_columns(pl.col("timestamp").cast(pl.String)).write_csv(tmp_path / "dates.csv")
    naive = scores.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
    blank_day = pl.col("timestamp") == STAMPS[80].replace(tzinfo=None)
    naive = naive.with_columns(pl.when(blank_day).then(None).otherwise("score").alias("score"))
    naive.write_parquet(tmp_path / "naive.parquet")
    equity = {}
    for name in ("utc.parquet", "dates.csv", "naive.parquet"):
        summary = _run(_config(tmp_path, {"name": "signals", "path": name}), capsys)
        equity[name] = summary["metrics"]["final_equity"]
    assert equity["dates.csv"] == equity["utc.parquet"]
    assert equity["naive.parquet"] != equity["utc.parquet"]  # a day without scores: cash


def test_walk_forward_over_a_signal_file_searches_portfolio_rules(tmp_path, capsys):
    _momentum_scores("score").write_parquet(tmp_path / "s.parquet")
    config = _config(
        tmp_path,
        {"name": "signals", "path": "s.parquet"},
        walk_forward={"train_bars": 60, "test_bars": 40, "grid": {"top_k": [1, 2]}},
    )
    assert main(["wfv", "-c", str(config)]) == 0
    assert len(json.loads(capsys.readouterr().out)["folds"]) == 2
    raw = yaml.safe_load(config.read_text())
    raw["walk_forward"]["grid"] = {"lookback": [1, 2]}
    config.write_text(yaml.safe_dump(raw))
    assert main(["wfv", "-c", str(config)]) == 2
    assert "walk_forward.grid: unknown parameter(s) ['lookback']" in capsys.readouterr().err


def test_data_symbols_select_from_the_signal_file(tmp_path, capsys):
    _momentum_scores("score").write_parquet(tmp_path / "s.parquet")
    config = _config(tmp_path, {"name": "signals", "path": "s.parquet"})
    raw = yaml.safe_load(config.read_text())
    raw["data"]["symbols"] = ["S001", "S003"]
    config.write_text(yaml.safe_dump(raw))
    folder = Path(_run(config, capsys)["artifacts"])
    assert set(pl.read_parquet(folder / "trades.parquet")["symbol"]) <= {"S001", "S003"}


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (file, what the error must say) for signal files that cannot be run."""
    good = _momentum_scores("score")
    cases = {
        "missing.parquet": None,
        "no_score.parquet": good.rename({"score": "value"}),
        "text_score.csv": good.with_columns(pl.lit("high").alias("score")),
        "infinite.parquet": good.with_columns(
            pl.when(pl.int_range(pl.len()) == 7).then(np.inf).otherwise("score").alias("score")
        ),
        "twice.parquet": pl.concat([good, good.head(1)]),
        "stranger.parquet": pl.concat(
            [good, good.head(1).with_columns(pl.lit("ZZZ").alias("symbol"))]
        ),
        "off_the_bars.parquet": pl.concat(
            [good, good.head(1).with_columns(pl.col("timestamp") + pl.duration(hours=5))]
        ),
        "bad_stamp.csv": good.with_columns(pl.lit("yesterday").alias("timestamp")),
    }
    expected = {
        "missing.parquet": "does not exist",
        "no_score.parquet": "no column(s) ['score']",
        "text_score.csv": "column score: expected numbers",
        "infinite.parquet": "column score: inf at row 7",
        "twice.parquet": "more than one score for",
        "stranger.parquet": "symbol(s) without bars in the data: ['ZZZ']",
        "off_the_bars.parquet": "are not bar timestamps",
        "bad_stamp.csv": "column timestamp: expected dates or times",
    }
    for name, frame in cases.items():
        if frame is not None:
            path = tmp_path / name
            frame.write_csv(path) if name.endswith(".csv") else frame.write_parquet(path)
    return expected


def test_each_bad_signal_file_is_one_line_naming_the_file_and_column(tmp_path, capsys):
    for name, message in _bad_files(tmp_path).items():
        line = _error(_config(tmp_path, {"name": "signals", "path": name}), capsys)
        assert "strategy.path" in line and str(tmp_path / name) in line, line
        assert message in line, line


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"name": "signals"}, "strategy.path: expected a signal file path"),
        ({"name": "signals", "path": "s.parquet", "params": {}}, "unknown key(s) ['params']"),
        ({"name": "signals", "path": "s.parquet", "score": 3}, "strategy.score"),
        ({"name": "nope"}, "'package.module:ClassName'"),
    ],
)
def test_bad_signal_strategy_keys_are_one_line(tmp_path, capsys, strategy, message):
    _momentum_scores("score").write_parquet(tmp_path / "s.parquet")
    assert message in _error(_config(tmp_path, strategy), capsys)


USER_MODULE = """
    import numpy as np

    from quant_engine.simulation import Signal


    class Contrarian:
        \"\"\"Long the names that fell most over ``lookback`` bars.\"\"\"

        def __init__(self, lookback=5):
            if lookback < 1:
                raise ValueError(f"lookback must be at least 1, got {lookback}")
            self.lookback = lookback

        def start(self, symbols):
            self.closes = []

        def on_bar(self, bar):
            self.closes.append(np.asarray(bar.close, dtype=float))
            if len(self.closes) <= self.lookback:
                return None
            scores = -(self.closes[-1] / self.closes[-1 - self.lookback] - 1.0)
            return Signal(scores, np.isfinite(scores))


    class NotAStrategy:
        def start(self, symbols):
            pass

    NOT_A_CLASS = 3
"""


def test_a_users_strategy_class_runs_from_the_configs_folder(tmp_path, capsys):
    package = tmp_path / "mystrats"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "contrarian.py").write_text(textwrap.dedent(USER_MODULE))
    strategy = {"name": "mystrats.contrarian:Contrarian", "params": {"lookback": 3}}
    summary = _run(_config(tmp_path, strategy), capsys)
    assert summary["metrics"]["n_fills"] > 10
    manifest = json.loads((Path(summary["artifacts"]) / "manifest.json").read_text())
    assert manifest["config"]["strategy"] == {
        "name": "mystrats.contrarian:Contrarian",
        "params": {"lookback": 3},
    }
    cases = {
        "nowhere.module:Contrarian": "cannot import module 'nowhere.module'",
        "mystrats.contrarian:Missing": "module 'mystrats.contrarian' has no 'Missing'",
        "mystrats.contrarian:NotAStrategy": "is not a strategy: it has no on_bar",
        "mystrats.contrarian:NOT_A_CLASS": "is not a strategy: it is not a class",
        "mystrats.contrarian": "is not one of",
    }
    for name, message in cases.items():
        line = _error(_config(tmp_path, {"name": name}), capsys)
        assert "strategy.name" in line and message in line, line
    line = _error(_config(tmp_path, {**strategy, "params": {"window": 3}}), capsys)
    assert "strategy.params: unknown key(s) ['window']; known: ['lookback']" in line
    line = _error(_config(tmp_path, {**strategy, "params": {"lookback": 0}}), capsys)
    assert "strategy.params: ValueError: lookback must be at least 1, got 0" in line
    config = _config(tmp_path, strategy)
    raw = yaml.safe_load(config.read_text())
    raw["walk_forward"] = {"train_bars": 60, "test_bars": 40, "grid": {"lookback": [2, 6]}}
    config.write_text(yaml.safe_dump(raw))
    assert main(["wfv", "-c", str(config)]) == 0
    folds = json.loads(capsys.readouterr().out)["folds"]
    assert len(folds) == 2 and {f["params"]["lookback"] for f in folds} <= {2, 6}
    line = _error(_config(tmp_path, strategy, "vectorized"), capsys)
    assert "run.simulator: vectorized needs the strategy's scores(panel)" in line


def test_the_bar_store_is_a_data_source(tmp_path, capsys):
    home = tmp_path / "home"
    BarStore(home / "assets" / "raw_bars.parquet").write(BARS)
    scores = tmp_path / "s.parquet"
    _momentum_scores("score").write_parquet(scores)
    config = {
        "run": {"artifacts_dir": "out"},
        "data": {"source": "store", "path": "home/assets/raw_bars.parquet", "start": "2016-03-01"},
        "strategy": {"name": "signals", "path": "s.parquet"},
        "portfolio": {"mode": "long_only", "top_k": 2},
    }
    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = _run(path, capsys)
    assert summary["metrics"]["n_fills"] > 0
    trades = pl.read_parquet(Path(summary["artifacts"]) / "trades.parquet")
    assert str(trades["decided_at"].min().date()) >= "2016-03-01"
    config["data"] = {"source": "store", "path": "nowhere"}
    path.write_text(yaml.safe_dump(config))
    assert "no bar store at" in _error(path, capsys)
