"""MarketDataResource picks the source by config; keys come from the environment, never logs;
the bar-store IO manager hands downstream assets every stored day, split-adjusted."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from quant_assets.resources import BarStoreIOManager, MarketDataResource
from quant_engine.data.schema import BAR_SCHEMA
from quant_engine.data.sources import BarSource
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore


def test_synthetic_by_default_on_the_business_day_calendar():
    market = MarketDataResource(n_symbols=3, n_days=70)
    source = market.bar_source()
    assert isinstance(source, SyntheticSource) and isinstance(source, BarSource)
    assert market.calendar_name() == "24/5"
    assert market.available_days() == (date(2016, 1, 4), source.days()[-1])
    assert market.oracle_ic() is not None and market.actions() is None


def test_directory_needs_its_path_and_vendors_need_symbols():
    with pytest.raises(ValueError, match=r"market_data\.directory must be set"):
        MarketDataResource(source="directory").bar_source()
    assert MarketDataResource(source="directory", directory="x").calendar_name() == "XNYS"
    assert MarketDataResource(source="ccxt").calendar_name() == "24/7"
    with pytest.raises(ValueError, match=r"market_data\.symbols must list"):
        MarketDataResource(source="alpaca").universe()


def test_vendor_keys_come_from_env_vars_and_stay_out_of_descriptions(monkeypatch):
    monkeypatch.setenv("MY_ALPACA_KEY", "key-123-secret")
    monkeypatch.setenv("MY_ALPACA_SECRET", "secret-456-secret")
    configured = MarketDataResource(
        source="alpaca",
        symbols=["AAPL"],
        alpaca_api_key=dg.EnvVar("MY_ALPACA_KEY"),
        alpaca_secret_key=dg.EnvVar("MY_ALPACA_SECRET"),
    )
    with dg.build_resources({"market_data": configured}) as resources:
        market = resources.market_data
        source = market.bar_source()
        assert type(source).__name__ == "AlpacaSource"
        assert "secret" not in market.describe() and "secret" not in repr(source)
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="API key and secret are required"):
        MarketDataResource(source="alpaca", symbols=["AAPL"]).bar_source()


def test_downstream_loads_every_stored_day_adjusted_for_stored_actions(tmp_path):
    store = BarStore(tmp_path / "raw_bars.parquet")
    bars = pl.DataFrame(
        {
            "symbol": ["A", "A", "B"],
            "timestamp": [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3, 3)],
            "open": [40.0, 10.0, 5.0],
            "high": [41.0, 11.0, 6.0],
            "low": [39.0, 9.0, 4.0],
            "close": [40.0, 10.0, 5.0],
            "volume": [100.0, 400.0, 7.0],
        }
    ).cast(BAR_SCHEMA)
    store.write(bars)
    manager = BarStoreIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    context = dg.build_input_context(asset_key=dg.AssetKey("raw_bars"))
    assert manager.load_input(context).equals(bars)
    store.write_actions(
        pl.DataFrame(
            {
                "symbol": ["A"],
                "ex_date": [date(2024, 1, 3)],
                "split_ratio": [4.0],
                "dividend": [0.0],
            }
        )
    )
    adjusted = manager.load_input(context)
    assert adjusted["close"].to_list() == [10.0, 10.0, 5.0]
    assert adjusted["volume"].to_list() == [400.0, 400.0, 7.0]
    assert store.read().equals(bars)  # the stored bars stay raw
    with pytest.raises(FileNotFoundError, match="no stored bars"):
        BarStoreIOManager(base_dir=str(tmp_path / "empty")).create_io_manager(None).load_input(
            context
        )
