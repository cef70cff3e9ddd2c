"""The daily job extends features, signals and the backtest; a full rebuild gives the same."""

import dagster as dg
import numpy as np
import polars as pl

from quant_assets.definitions import defs
from quant_assets.defs.market_data.history import raw_bars_store, seed_history
from quant_assets.defs.market_data.partitions import partition_key
from quant_assets.resources import MarketDataResource
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.signals import read_signal_file
from tests.conftest import SMALL_MARKET, materialize_pipeline

DAILY = ("raw_bars", "features", "signals", "backtest")
NEW_DAYS = 3
# The model trains once (one walk-forward fold): the test is about what the daily job does.
TRAINING = {"min_train_days": 250, "retrain_every": 500}
FACTOR_SETS = ["basic", "alpha158"]
FORMATS = ("parquet", "csv")


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def _run(definitions, market: MarketDataResource, full: bool, day=None, backtest=None):
    """Materialize the daily assets (raw_bars too, for ``day``'s partition, when given;
    ``backtest``: the backtest's config besides ``full_rebuild``)."""
    config = {"features": {"factor_sets": FACTOR_SETS, "full_rebuild": full}}
    config["signals"] = {"full_rebuild": full}
    config["backtest"] = {"full_rebuild": full, **(backtest or {})}
    result = dg.materialize(
        [a for a in definitions.assets if a.key.to_user_string() in DAILY],
        selection=list(DAILY if day is not None else DAILY[1:]),
        resources={**definitions.resources, "market_data": market},
        run_config={"ops": {name: {"config": c} for name, c in config.items()}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        partition_key=None if day is None else partition_key(day),
    )
    assert result.success
    return result


def _stored(home) -> dict[str, pl.DataFrame]:
    return {
        "features": pl.read_parquet(home / "assets" / "features.parquet").sort(
            "symbol", "timestamp"
        ),
        "signals": pl.read_parquet(home / "assets" / "signals.parquet").sort("symbol", "timestamp"),
        "backtest": pl.read_parquet(home / "assets" / "backtest.parquet").sort(
            "strategy", "timestamp"
        ),
    }


def _assert_equal(incremental: pl.DataFrame, full: pl.DataFrame) -> None:
    assert incremental.columns == full.columns and incremental.height == full.height
    keys = [c for c in full.columns if full[c].dtype not in (pl.Float64, pl.Float32)]
    assert incremental.select(keys).equals(full.select(keys))
    floats = [c for c in full.columns if c not in keys]
    np.testing.assert_allclose(
        incremental.select(floats).to_numpy(),
        full.select(floats).to_numpy(),
        rtol=1e-9,
        atol=1e-12,
    )


def test_consecutive_daily_runs_equal_a_full_rebuild(tmp_path, monkeypatch):
    home = tmp_path / "home"
    first_days = SMALL_MARKET["n_days"] - NEW_DAYS
    built = materialize_pipeline(
        home,
        features_config={"factor_sets": FACTOR_SETS},
        training=TRAINING,
        n_days=first_days,
    )
    assert built.success
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    definitions = defs()
    longest = MarketDataResource(**SMALL_MARKET)
    sessions = SyntheticSource(longest.synthetic_config()).days()[-NEW_DAYS:]
    for n, day in enumerate(sessions, start=1):  # one partition a day, as the schedule runs
        market = MarketDataResource(**{**SMALL_MARKET, "n_days": first_days + n})
        daily = _run(definitions, market, full=False, day=day)
        features = _metadata(daily, "features")
        assert features["rebuild_reason"] == "extending the stored days"
        # The new day, and the label_horizon + 1 days before it whose labels it may complete.
        assert features["days_written"] == 3
        signals = _metadata(daily, "signals")
        assert signals["rebuild_reason"] == "extending the stored signals"
        assert signals["new_days_scored"] == 1
        backtest = _metadata(daily, "backtest")
        assert backtest["rebuild_reason"] == "extending the stored backtest"
        assert backtest["new_trade_dates"] == 1
        assert _metadata(daily, "raw_bars")["stored_symbols"] == SMALL_MARKET["n_symbols"]
    incremental = _stored(home)
    assert incremental["features"]["timestamp"].max().date() == sessions[-1]
    # The synthetic source served each day from its cache, extended by that day alone, and
    # the store holds the bars of the whole market generated at once.
    (cache,) = (home / "cache" / "synthetic").iterdir()
    ends = sorted(int(chunk.name.split("-")[1]) for chunk in cache.iterdir())
    assert ends[-NEW_DAYS:] == [first_days + n for n in range(1, NEW_DAYS + 1)]
    whole = SyntheticSource(longest.synthetic_config()).market.bars
    assert raw_bars_store().read().equals(whole.sort("symbol", "timestamp"))
    # The appended signal files hold every stored signal, in both formats.
    files = {suffix: read_signal_file(home / "signals" / f"signals.{suffix}") for suffix in FORMATS}
    for frame in files.values():
        assert frame.equals(incremental["signals"].sort("timestamp", "symbol"))

    rebuilt = _run(definitions, longest, full=True)
    assert _metadata(rebuilt, "features")["rebuild_reason"] == "full_rebuild is set"
    assert _metadata(rebuilt, "signals")["rebuild_reason"] == "full_rebuild is set"
    assert _metadata(rebuilt, "backtest")["rebuild_reason"] == "full_rebuild is set"
    full = _stored(home)
    for name in ("features", "signals", "backtest"):
        _assert_equal(incremental[name], full[name])
    for suffix in FORMATS:
        rewritten = read_signal_file(home / "signals" / f"signals.{suffix}")
        _assert_equal(files[suffix], rewritten)
    # the state the rebuild stored extends; another cost model runs over the whole history
    again = _metadata(_run(definitions, longest, full=False), "backtest")
    assert again["rebuild_reason"] == "extending the stored backtest"
    assert again["new_trade_dates"] == 0
    _assert_equal(_stored(home)["backtest"], full["backtest"])
    linear = _run(definitions, longest, full=False, backtest={"impact_model": "linear"})
    assert _metadata(linear, "backtest")["rebuild_reason"] == "the backtest config changed"


def test_a_changed_factor_set_rebuilds_every_day(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    market = MarketDataResource(**{**SMALL_MARKET, "n_days": 200})
    last = seed_history(market)
    definitions = defs()

    def features(factor_sets: list[str], partition: str | None = None) -> dict:
        result = dg.materialize(
            [a for a in definitions.assets if a.key.to_user_string() in ("raw_bars", "features")],
            selection=["features"] if partition is None else ["raw_bars", "features"],
            resources={**definitions.resources, "market_data": market},
            run_config={"ops": {"features": {"config": {"factor_sets": factor_sets}}}},
            instance=dg.DagsterInstance.ephemeral(),
            partition_key=partition,
        )
        return _metadata(result, "features")

    first = features(["basic"], partition_key(last))
    assert first["full_rebuild"] and first["rebuild_reason"].startswith("no features stored")
    again = features(["basic"])  # no new bars: the last label_horizon + 1 days again
    assert not again["full_rebuild"] and again["days_written"] == 2
    changed = features(["basic", "raw_window"])
    assert changed["rebuild_reason"].startswith("factor sets, normalization")
    assert changed["full_rebuild"] and changed["stored_days"] == changed["days_written"]
    stored = pl.read_parquet(home / "assets" / "features.parquet")
    assert "raw_close" in stored.columns and stored.height == changed["rows_written"]
