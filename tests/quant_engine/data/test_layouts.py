"""Real file layouts: every timestamp format, session dates in the exchange's time zone, the
usual exports' columns, Adj Close by choice, upper-case suffixes, missing symbols logged."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from quant_engine.data.loaders import FileLayout, load_bar_file
from quant_engine.data.schema import BarValidationError
from quant_engine.data.sources.directory import DirectorySource, DirectorySourceConfig
from tests.quant_engine.data.bad_inputs import GOOD_ROWS, csv_text

NEW_YORK = FileLayout(session_timezone="America/New_York")
SESSIONS = [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3, 4)]
EPOCH = [1704153600 + 86400 * i for i in range(3)]  # the three days at midnight UTC


def _csv(tmp_path: Path, stamps: list[str], name: str = "X.csv") -> Path:
    path = tmp_path / name
    path.write_text(csv_text(*(s + r[10:] for s, r in zip(stamps, GOOD_ROWS, strict=True))))
    return path


@pytest.mark.parametrize(
    ("stamps", "layout"),
    [
        (["2024-01-02", "2024-01-03", "2024-01-04"], NEW_YORK),
        (["20240102", "20240103", "20240104"], NEW_YORK),
        ([str(s) for s in EPOCH], NEW_YORK),
        ([str(s * 1000) for s in EPOCH], NEW_YORK),
        ([str(s * 1_000_000) for s in EPOCH], NEW_YORK),
        ([str(s * 10**9) for s in EPOCH], NEW_YORK),
        (["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"], NEW_YORK),
        (["2024-01-02 16:00", "2024-01-03 16:00", "2024-01-04 16:00"], NEW_YORK),
        # New York evening with its offset: 01:00 UTC the next day, still that New York session.
        (
            ["2024-01-02T20:00:00-05:00", "2024-01-03T20:00:00-05:00", "2024-01-04T20:00:00-05:00"],
            NEW_YORK,
        ),
        (
            ["01/02/2024", "01/03/2024", "01/04/2024"],
            FileLayout(timestamp_format="%m/%d/%Y", session_timezone="America/New_York"),
        ),
        (
            ["02/01/2024", "03/01/2024", "04/01/2024"],
            FileLayout(timestamp_format="%d/%m/%Y", session_timezone="America/New_York"),
        ),
    ],
    ids=[
        "iso_date",
        "yyyymmdd",
        "epoch_s",
        "epoch_ms",
        "epoch_us",
        "epoch_ns",
        "iso_utc_midnight",
        "naive_datetime",
        "iso_offset_evening",
        "user_format_us",
        "user_format_day_first",
    ],
)
def test_each_timestamp_format_gives_the_session_dates(tmp_path, stamps, layout):
    bars = load_bar_file(_csv(tmp_path, stamps), layout=layout)
    assert bars["timestamp"].to_list() == SESSIONS
    assert bars["close"].to_list() == [10.5, 11.0, 11.5]


def test_a_friday_evening_in_new_york_stays_friday_not_saturday(tmp_path):
    path = tmp_path / "F.csv"
    path.write_text(csv_text("2024-01-05T20:00:00-05:00" + GOOD_ROWS[0][10:]))
    bars = load_bar_file(path, layout=NEW_YORK)
    assert bars["timestamp"].to_list() == [datetime(2024, 1, 5, tzinfo=UTC)]


def test_without_a_format_us_dates_are_an_error_not_a_guess(tmp_path):
    path = _csv(tmp_path, ["01/02/2024", "01/03/2024", "01/04/2024"])
    with pytest.raises(
        BarValidationError,
        match=r"X.csv, row 1, column 'timestamp': value "
        r"'01/02/2024' is not a timestamp in a known format \(tried ISO 8601",
    ):
        load_bar_file(path, layout=NEW_YORK)
    with pytest.raises(
        BarValidationError,
        match=r"value '01/02/2024' is not a timestamp in "
        r"timestamp_format '%Y%m%d'",
    ):
        load_bar_file(path, layout=FileLayout(timestamp_format="%Y%m%d"))


def test_tokyo_midnight_parquet_stays_its_tokyo_day(tmp_path):
    path = tmp_path / "7203.parquet"
    tokyo = [datetime(2024, 1, d) for d in (4, 5)]
    pl.DataFrame(
        {
            "timestamp": pl.Series(tokyo).dt.replace_time_zone("Asia/Tokyo"),
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.5, 1.5],
            "volume": [10.0, 10.0],
        }
    ).write_parquet(path)
    source = DirectorySource(DirectorySourceConfig(tmp_path, calendar="XTKS"))
    bars = source.fetch(None, date(2024, 1, 4), date(2024, 1, 6))
    assert bars["timestamp"].dt.date().to_list() == [date(2024, 1, 4), date(2024, 1, 5)]


YAHOO = "Date,Open,High,Low,Close,Adj Close,Volume"


def test_yahoo_adj_close_is_dropped_with_a_warning_or_used_to_adjust(tmp_path, caplog):
    path = tmp_path / "AAPL.csv"
    path.write_text(
        csv_text("2024-01-02,10,11,9,10,5,1000", "2024-01-03,10,11,9,10,10,1000", header=YAHOO)
    )
    with caplog.at_level(logging.WARNING):
        raw = load_bar_file(path)
    assert raw["close"].to_list() == [10.0, 10.0]
    assert "AAPL.csv: dropped column(s) 'Adj Close'" in caplog.text
    adjusted = load_bar_file(path, layout=FileLayout(adj_close="adjust"))
    assert adjusted["open"].to_list() == [5.0, 10.0] and adjusted["close"].to_list() == [5.0, 10.0]
    assert adjusted["volume"].to_list() == [2000.0, 1000.0]  # same dollar volume


def test_quandl_and_backtrader_exports_and_a_column_mapping(tmp_path, caplog):
    quandl = tmp_path / "Q.csv"
    quandl.write_text(
        csv_text(
            "2024-01-02,10,11,9,10.5,1000,0,1,10,11,9,10.5,1000",
            header="Date,Open,High,Low,Close,Volume,Ex-Dividend,Split Ratio,Adj. Open,Adj. High,"
            "Adj. Low,Adj. Close,Adj. Volume",
        )
    )
    backtrader = tmp_path / "B.csv"
    backtrader.write_text(
        csv_text(
            "2024-01-02,10,11,9,10.5,1000,0", header="Date,Open,High,Low,Close,Volume,OpenInterest"
        )
    )
    with caplog.at_level(logging.WARNING):
        for path in (quandl, backtrader):
            assert load_bar_file(path, layout=NEW_YORK)["close"].to_list() == [10.5]
    assert "'OpenInterest'" in caplog.text and "'Adj. Close'" in caplog.text
    vendor = tmp_path / "V.csv"
    vendor.write_text(csv_text("2024-01-02,10,11,9,10.5,1000", header="TRADE_DATE,o,h,l,PX_LAST,v"))
    mapping = {
        "trade date": "timestamp",
        "o": "open",
        "h": "high",
        "l": "low",
        "PX_LAST": "close",
        "v": "volume",
    }
    assert load_bar_file(vendor, layout=FileLayout(columns=mapping))["close"].to_list() == [10.5]


def test_upper_case_suffixes_are_read_and_missing_symbols_are_logged(tmp_path, caplog):
    (tmp_path / "MSFT.CSV").write_text(csv_text(*GOOD_ROWS))
    (tmp_path / "IBM.Parquet").write_bytes(b"")
    source = DirectorySource(tmp_path)
    with caplog.at_level(logging.WARNING):
        bars = source.fetch(["MSFT", "AAPL"], date(2024, 1, 1), date(2024, 2, 1))
    assert bars["symbol"].unique().to_list() == ["MSFT"]
    assert "no bars for 1 symbol(s): AAPL" in caplog.text
    with pytest.raises(BarValidationError, match=r"IBM.Parquet: file is empty"):
        source.fetch(None, date(2024, 1, 1), date(2024, 2, 1))
