"""Reading DBN files users already downloaded: Databento's own sample files, and bad files."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import databento
import databento_dbn as dbn
import numpy as np
import polars as pl
import pytest

from quant_engine.data.schema import BAR_SCHEMA, validate_bars
from quant_engine.data.sources import DbnFileConfig, DbnFileSource
from quant_engine.data.sources.databento import TRADE_SCHEMA, read_dbn_bars, read_dbn_trades
from tests.conftest import SHARED

SAMPLES = SHARED / "data" / "databento-samples"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"Databento sample files not present at {SAMPLES}"
)


def sample_files(schema: str) -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob(f"*.{schema}.dbn*") if p.is_file())


def reference(path: Path) -> pl.DataFrame:
    """Databento's own decoding of the file (float prices, mapped symbols), via pandas."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = databento.DBNStore.from_file(path).to_df(price_type="float", pretty_ts=False)
    return pl.from_pandas(frame.reset_index())


@needs_samples
@pytest.mark.parametrize(
    "path",
    [p for s in ("ohlcv-1d", "ohlcv-1h", "ohlcv-1m") for p in sample_files(s)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_sample_bar_files_match_databentos_own_decoding(path: Path):
    bars = read_dbn_bars(path)
    ref = reference(path)
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars.height == ref.height
    if bars.height:
        assert validate_bars(bars).equals(bars)
        assert bars["symbol"].to_list() == ref["symbol"].to_list()
        for column in ("open", "high", "low", "close", "volume"):
            assert np.allclose(bars[column].to_numpy(), ref[column].cast(pl.Float64).to_numpy())
        stamps = ref["ts_event"].cast(pl.Int64).cast(pl.Datetime("ns", "UTC"))
        if ".ohlcv-1d." in path.name:  # Databento stamps daily bars at midnight UTC
            assert bars["timestamp"].dt.date().to_list() == stamps.dt.date().to_list()
            assert (bars["timestamp"].dt.hour() == 0).all()
        else:
            assert bars["timestamp"].to_list() == stamps.cast(pl.Datetime("us", "UTC")).to_list()


@needs_samples
def test_known_values_of_the_nasdaq_daily_sample():
    bars = read_dbn_bars(SAMPLES / "XNAS.ITCH" / "test_data.ohlcv-1d.dbn.zst")
    assert bars.row(0) == (
        "NVDA",
        bars["timestamp"][0],
        521.0,
        522.86,
        510.54,
        515.6,
        1_424_253.0,
    )
    assert bars["timestamp"][0].date() == date(2020, 12, 28)


@needs_samples
@pytest.mark.parametrize("path", sample_files("trades"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_trade_files_match_databentos_own_decoding(path: Path):
    trades = read_dbn_trades(path)
    ref = reference(path)
    assert trades.schema == pl.Schema(TRADE_SCHEMA)
    assert trades["price"].to_list() == ref["price"].to_list()
    assert trades["size"].to_list() == ref["size"].cast(pl.Float64).to_list()
    assert trades["side"].to_list() == ref["side"].to_list()
    assert trades["symbol"].to_list() == ref["symbol"].to_list()


@needs_samples
def test_file_source_picks_files_by_schema_and_filters_range_and_symbols():
    src = DbnFileSource(DbnFileConfig(SAMPLES))
    daily = src.fetch(None, date(2020, 12, 1), date(2024, 1, 1))
    assert daily["symbol"].to_list() == ["ESH1", "NVDA", "QQQ"]
    only = src.fetch(["NVDA", "NOPE"], date(2020, 12, 28), date(2020, 12, 29), timeframe="1h")
    assert only["symbol"].unique().to_list() == ["NVDA"] and only.height == 4
    assert src.fetch(["NVDA"], date(2020, 12, 29), date(2021, 1, 5)).height == 0


def test_a_file_that_is_not_dbn_fails_naming_it(tmp_path: Path):
    bad = tmp_path / "broken.ohlcv-1d.dbn"
    bad.write_bytes(b"this is not DBN")
    with pytest.raises(ValueError, match=r"broken\.ohlcv-1d\.dbn: not a readable DBN file"):
        read_dbn_bars(bad)
    with pytest.raises(FileNotFoundError, match="no such DBN file"):
        read_dbn_bars(tmp_path / "missing.dbn")


@needs_samples
def test_a_trades_file_is_not_taken_for_bars():
    with pytest.raises(ValueError, match="schema 'trades' holds no bars"):
        read_dbn_bars(SAMPLES / "XNAS.ITCH" / "test_data.trades.dbn.zst")


def test_a_file_requested_by_instrument_id_names_bars_by_id(tmp_path: Path):
    day = 1_704_240_000 * 10**9  # 2024-01-03 00:00 UTC
    metadata = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=day,
        end=day + 86_400 * 10**9,
        stype_in=dbn.SType.INSTRUMENT_ID,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1D,
        symbols=["15"],
    )
    bar = dbn.OHLCVMsg(
        dbn.RType.OHLCV_1D,
        2,
        15,
        day,
        185_200_000_000,
        186 * 10**9,
        184 * 10**9,
        185_250_000_000,
        1_000,
    )
    path = tmp_path / "ids.ohlcv-1d.dbn"
    path.write_bytes(metadata.encode() + bytes(bar))
    bars = read_dbn_bars(path)
    assert bars.row(0)[0] == "15"
    assert bars.row(0)[2:] == (185.2, 186.0, 184.0, 185.25, 1000.0)  # exact decimal prices


def test_an_instrument_id_reused_by_two_symbols_is_named_by_date(tmp_path: Path):
    day = 86_400 * 10**9
    jan2 = 1_704_153_600 * 10**9  # 2024-01-02 00:00 UTC

    def interval(start: date, end: date, symbol: str) -> SimpleNamespace:
        return SimpleNamespace(start_date=start, end_date=end, symbol=symbol)

    mappings = [
        SimpleNamespace(
            raw_symbol="OLD", intervals=[interval(date(2024, 1, 2), date(2024, 1, 3), "15")]
        ),
        SimpleNamespace(
            raw_symbol="NEW", intervals=[interval(date(2024, 1, 3), date(2024, 1, 4), "15")]
        ),
    ]
    metadata = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=jan2,
        end=jan2 + 3 * day,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1D,
        symbols=["OLD", "NEW"],
        mappings=mappings,
    )
    price = 50 * 10**9
    records = [
        dbn.OHLCVMsg(dbn.RType.OHLCV_1D, 2, 15, jan2 + k * day, price, price, price, price, 10)
        for k in range(3)
    ]
    path = tmp_path / "reused.ohlcv-1d.dbn"
    path.write_bytes(metadata.encode() + b"".join(bytes(r) for r in records))
    bars = read_dbn_bars(path)
    by_day = dict(zip(bars["timestamp"].dt.date(), bars["symbol"], strict=True))
    assert by_day == {date(2024, 1, 2): "OLD", date(2024, 1, 3): "NEW", date(2024, 1, 4): "15"}
