"""Each factor set's declared lookback: its factors built from that many bars before a day give
the whole history's values for the day, and one bar fewer does not."""

import numpy as np
import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.features import FactorSetConfig, build_factor_sets
from quant_engine.features.sets import LOOKBACK_BARS

TAIL = 5  # days compared at the end of the history


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return generate_market(SyntheticMarketConfig(n_symbols=6, n_days=260, seed=3)).bars


def _tail(
    bars: pl.DataFrame, sets: tuple[str, ...], history: int | None, normalize: str = "none"
) -> pl.DataFrame:
    """The factors of the last TAIL days, built from ``history`` bars before them (None: all)."""
    days = bars["timestamp"].unique().sort()
    if history is not None:
        bars = bars.filter(pl.col("timestamp") >= days[-TAIL - history])
    built = build_factor_sets(bars, FactorSetConfig(sets, normalize))
    return built.filter(pl.col("timestamp") >= days[-TAIL]).sort("symbol", "timestamp")


def _close(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    names = [c for c in a.columns if c not in ("symbol", "timestamp")]
    x, y = a.select(names).to_numpy(), b.select(names).to_numpy()
    return bool(np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True))


@pytest.mark.parametrize("name", sorted(LOOKBACK_BARS))
def test_the_lookback_window_gives_the_whole_historys_factors(bars, name):
    lookback = FactorSetConfig((name,)).lookback
    assert lookback == LOOKBACK_BARS[name]
    whole = _tail(bars, (name,), None)
    assert _close(_tail(bars, (name,), lookback - 1), whole)  # the day itself is the last bar
    assert not _close(_tail(bars, (name,), lookback - 2), whole)  # one bar fewer differs
    ranked = _tail(bars, (name,), None, "rank")  # normalized across symbols, day by day
    assert _close(_tail(bars, (name,), lookback - 1, "rank"), ranked)


def test_a_set_without_a_declared_lookback_has_none(monkeypatch):
    from quant_engine.features import FACTOR_SETS

    monkeypatch.setitem(FACTOR_SETS, "custom", lambda bars: bars.select("symbol", "timestamp"))
    assert FactorSetConfig(("basic", "custom")).lookback is None
    assert FactorSetConfig(("basic", "alpha158")).lookback == max(
        LOOKBACK_BARS["basic"], LOOKBACK_BARS["alpha158"]
    )
