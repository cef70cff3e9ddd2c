"""Fixtures shared by the backtest and simulation tests: one small market, random signals."""

import numpy as np
import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig, generate_market


@pytest.fixture(scope="module")
def market():
    return generate_market(SyntheticMarketConfig(n_symbols=12, n_days=160, seed=5))


@pytest.fixture(scope="module")
def signals(market):
    rng = np.random.default_rng(1)
    frame = market.bars.select("symbol", "timestamp").with_columns(
        pl.Series("score", rng.standard_normal(market.bars.height))
    )
    # Signals start late and some names miss scores on some days.
    return frame.filter(
        (pl.col("timestamp") >= frame["timestamp"].unique().sort()[30])
        & (pl.Series(rng.random(frame.height)) > 0.1)
    )
