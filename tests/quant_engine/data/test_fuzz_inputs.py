"""Malformed CSV, Parquet and DBN inputs: each one clear error (or a failed check, or a
documented clean acceptance), and the store unchanged by content hash every time.

The store first holds GOOD and BAD from clean files; then BAD (or the DBN directory) is replaced
by a case and the same days are ingested again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import polars as pl
import pytest

from quant_engine.data.calendars import calendar_for
from quant_engine.data.ingest import IngestConfig, ingest
from quant_engine.data.schema import BarValidationError
from quant_engine.data.sources.databento import DbnFileConfig, DbnFileSource
from quant_engine.data.sources.directory import DirectorySource, DirectorySourceConfig
from quant_engine.data.store import BarStore
from tests.quant_engine.data.bad_inputs import BAD_INPUTS, GOOD_ROWS, HEADER, csv_text

START, END = date(2024, 1, 2), date(2024, 1, 5)
CONFIG = IngestConfig(calendar="XNYS")
DAYS = [datetime(2024, 1, d) for d in (2, 3, 4)]
GOOD = {
    "timestamp": DAYS,
    "open": [10.0, 10.5, 11.0],
    "high": [11.0, 11.5, 12.0],
    "low": [9.0, 10.0, 10.5],
    "close": [10.5, 11.0, 11.5],
    "volume": [1000.0, 1200.0, 900.0],
}
ACCEPT = "accepted"  # stored exactly as the clean file: the store's bytes do not change


def _rows(*rows: str) -> str:
    return csv_text(*rows)


def _bars(**columns: object) -> pl.DataFrame:
    return pl.DataFrame({**GOOD, **columns})


# name -> (content: text for BAD.csv, a frame for BAD.parquet, bytes for BAD.parquet, or a
#          callable writing files into the directory; expected: error fragment, a failed
#          check's name, or ACCEPT)
CSV_CASES: dict[str, tuple[object, str]] = {
    **{f"csv_{name}": case for name, case in BAD_INPUTS.items()},
    "csv_us_dates": (
        _rows(*(f"01/0{d}/2024{r[10:]}" for d, r in zip((2, 3, 4), GOOD_ROWS, strict=True))),
        "row 1, column 'timestamp': value '01/02/2024' is not a timestamp in a known format",
    ),
    "csv_day_month_name": (
        _rows("2-Jan-24,10,11,9,10.5,1000"),
        "value '2-Jan-24' is not a timestamp in a known format (tried ISO 8601",
    ),
    "csv_month_name_first": (
        _rows('"Jan 02, 2024",10,11,9,10.5,1000'),
        "value 'Jan 02, 2024' is not a timestamp in a known format",
    ),
    "csv_format_changes": (
        _rows(GOOD_ROWS[0], "2024/01/03,10.5,11.5,10,11,1200"),
        "row 2, column 'timestamp': value '2024/01/03' is not a timestamp in the file's format",
    ),
    "csv_impossible_date": (
        _rows(GOOD_ROWS[0], "2024-13-45,10.5,11.5,10,11,1200"),
        "row 2, column 'timestamp': value '2024-13-45' is not a timestamp (ISO 8601 date)",
    ),
    "csv_impossible_yyyymmdd": (
        _rows("20240102,10,11,9,10.5,1000", "20241345,10.5,11.5,10,11,1200"),
        "row 2, column 'timestamp': value '20241345' is not a timestamp (YYYYMMDD)",
    ),
    "csv_epoch_mixed_units": (
        _rows("1704153600,10,11,9,10.5,1000", "1704240000000,10.5,11.5,10,11,1200"),
        "epoch numbers must have the digits of one unit",
    ),
    "csv_epoch_too_short": (
        _rows("1704153,10,11,9,10.5,1000"),
        "value '1704153' is not a timestamp: epoch numbers must have the digits of one unit",
    ),
    "csv_mixed_offsets": (
        _rows("2024-01-02T16:00:00-05:00,10,11,9,10.5,1000", "2024-01-03T16:00:00,10,11,9,10,1"),
        "row 2, column 'timestamp': value '2024-01-03T16:00:00' mixes timestamps",
    ),
    "csv_infinite_price": (
        _rows(GOOD_ROWS[0], "2024-01-03,10.5,inf,10,11,1200"),
        "row 2, column 'high': value inf is not a positive finite price",
    ),
    "csv_overflowing_price": (
        _rows(GOOD_ROWS[0], "2024-01-03,10.5,1e400,10,11,1200"),
        "row 2, column 'high': value inf is not a positive finite price",
    ),
    "csv_zero_price": (
        _rows(GOOD_ROWS[0], "2024-01-03,0,11.5,10,11,1200"),
        "row 2, column 'open': value 0.0 is not a positive finite price",
    ),
    "csv_text_volume": (
        _rows(GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,11,lots"),
        "row 2, column 'volume': value 'lots' is not a number",
    ),
    "csv_decimal_comma": (
        _rows('2024-01-02,"10,5",11,9,10.5,1000'),
        "row 1, column 'open': value '10,5' is not a number",
    ),
    "csv_currency_sign": (
        _rows("2024-01-02,$10,11,9,10.5,1000"),
        "row 1, column 'open': value '$10' is not a number",
    ),
    "csv_null_word": (
        _rows(GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,NULL,1200"),
        "row 2, column 'close': value 'NULL' is not a number",
    ),
    "csv_empty_timestamp": (
        _rows(GOOD_ROWS[0], ",10.5,11.5,10,11,1200"),
        "row 2, column 'timestamp': missing value",
    ),
    "csv_too_many_fields": (_rows(GOOD_ROWS[0], GOOD_ROWS[1] + ",7,8"), "BAD.csv: cannot be read"),
    "csv_binary_garbage": (b"\x00\xff\xfe\x01PK\x03\x04" * 20, "BAD.csv: "),
    "csv_two_timestamp_columns": (
        csv_text("2024-01-02,2024-01-02,10,11,9,10.5,1000", header="Date,timestamp," + HEADER[10:]),
        "columns 'Date' and 'timestamp' both give 'timestamp'",
    ),
    "csv_tab_separated": (
        _rows(*(r.replace(",", "\t") for r in GOOD_ROWS)).replace(",", "\t"),
        "BAD.csv: missing column(s) 'timestamp', 'open'",
    ),
    "csv_semicolons": (
        _rows(*(r.replace(",", ";") for r in GOOD_ROWS)).replace(",", ";"),
        "BAD.csv: missing column(s) 'timestamp', 'open'",
    ),
    "csv_two_bars_one_session": (
        _rows("2024-01-02T15:00:00Z,10,11,9,10.5,1000", "2024-01-02T20:00:00Z,10,11,9,10.5,1"),
        "row 2, column 'timestamp': duplicate timestamp 2024-01-02 00:00:00+00:00",
    ),
    "csv_missing_session": (_rows(GOOD_ROWS[0], GOOD_ROWS[2]), "calendar_gaps+missing_symbols"),
    "csv_symbol_ends_early": (_rows(*GOOD_ROWS[:2]), "missing_symbols"),
    "csv_tenfold_jump": (
        _rows(GOOD_ROWS[0], "2024-01-03,10.5,120,10,110,1200", "2024-01-04,110,120,100,111,900"),
        "unexplained_jumps",
    ),
    "csv_split_2_for_1_up_day": (
        _rows("2024-01-02,99,101,98,100,1000", "2024-01-03,50,51,49.5,50.5,2000", GOOD_ROWS[2]),
        "unexplained_jumps",
    ),
    "csv_split_3_for_2": (
        _rows("2024-01-02,89,91,88,90,1000", "2024-01-03,60,61,59.5,60,1500", GOOD_ROWS[2]),
        "unexplained_jumps",
    ),
    # Clean acceptances: other layouts of the same bars.
    "csv_whitespace": (_rows(*(" " + r.replace(",", " , ") + " " for r in GOOD_ROWS)), ACCEPT),
    "csv_yahoo_layout": (
        csv_text(
            *(r.rsplit(",", 1)[0] + ",1.0," + r.rsplit(",", 1)[1] for r in GOOD_ROWS),
            header="Date,Open,High,Low,Close,Adj Close,Volume",
        ),
        ACCEPT,
    ),
    "csv_backtrader_layout": (
        csv_text(
            *(r + ",0" for r in GOOD_ROWS), header="Date,Open,High,Low,Close,Volume,OpenInterest"
        ),
        ACCEPT,
    ),
    "csv_yyyymmdd": (_rows(*(r.replace("-", "", 2) for r in GOOD_ROWS)), ACCEPT),
    "csv_epoch_seconds": (
        _rows(*(f"{1704153600 + 86400 * i}{r[10:]}" for i, r in enumerate(GOOD_ROWS))),
        ACCEPT,
    ),
    "csv_epoch_milliseconds": (
        _rows(*(f"{(1704153600 + 86400 * i) * 1000}{r[10:]}" for i, r in enumerate(GOOD_ROWS))),
        ACCEPT,
    ),
    "csv_epoch_nanoseconds": (
        _rows(*(f"{(1704153600 + 86400 * i) * 10**9}{r[10:]}" for i, r in enumerate(GOOD_ROWS))),
        ACCEPT,
    ),
    "csv_new_york_evening_with_offset": (
        _rows(*(r[:10] + "T20:00:00-05:00" + r[10:] for r in GOOD_ROWS)),
        ACCEPT,
    ),
    "csv_byte_order_mark": ("\ufeff" + _rows(*GOOD_ROWS), ACCEPT),
    "csv_quoted_numbers": (_rows(*('"' + r.replace(",", '","') + '"' for r in GOOD_ROWS)), ACCEPT),
    "csv_crlf_and_blank_lines": (_rows(*GOOD_ROWS).replace("\n", "\r\n") + "\r\n", ACCEPT),
    "csv_naive_datetimes": (_rows(*(r[:10] + " 16:00:00" + r[10:] for r in GOOD_ROWS)), ACCEPT),
}

PARQUET_CASES: dict[str, tuple[object, str]] = {
    "pq_boolean_close": (
        _bars(close=[True, True, True]),
        "row 1, column 'close': value True is not a number (column of type Boolean)",
    ),
    "pq_list_close": (
        _bars(close=[[10.5], [11.0], [11.5]]),
        "row 1, column 'close': value [10.5] is not a number (column of type List(Float64))",
    ),
    "pq_categorical_close": (
        _bars(close=pl.Series(["10.5", "11", "11.5"], dtype=pl.Categorical)),
        "row 1, column 'close': value '10.5' is not a number (column of type Categorical)",
    ),
    "pq_struct_open": (
        _bars(open=[{"v": 1.0}, {"v": 2.0}, {"v": 3.0}]),
        "row 1, column 'open': value {'v': 1.0} is not a number (column of type Struct",
    ),
    "pq_binary_volume": (
        _bars(volume=[b"1", b"2", b"3"]),
        "row 1, column 'volume': value b'1' is not a number (column of type Binary)",
    ),
    "pq_text_price": (
        _bars(close=["10.5", "x", "11.5"]),
        "row 2, column 'close': value 'x' is not a number",
    ),
    "pq_float_timestamp": (
        _bars(timestamp=[1.5, 2.5, 3.5]),
        "row 1, column 'timestamp': value 1.5 is not a timestamp (column of type Float64)",
    ),
    "pq_text_us_dates": (
        _bars(timestamp=["01/02/2024", "01/03/2024", "01/04/2024"]),
        "value '01/02/2024' is not a timestamp in a known format",
    ),
    "pq_null_price": (_bars(low=[9.0, None, 10.5]), "row 2, column 'low': missing value"),
    "pq_nan_price": (
        _bars(low=[9.0, float("nan"), 10.5]),
        "row 2, column 'low': value nan is not a positive finite price",
    ),
    "pq_truncated": ("truncated", "BAD.parquet: cannot be read"),
    "pq_not_parquet": (b"timestamp,open\n2024-01-02,1\n", "BAD.parquet: cannot be read"),
    "pq_missing_volume": (_bars().drop("volume"), "BAD.parquet: missing column(s) 'volume'"),
    "pq_no_rows": (_bars().clear(), "BAD.parquet: file is empty (no data rows)"),
    "pq_duplicate_day": (
        _bars(timestamp=[DAYS[0], DAYS[1], DAYS[1]]),
        "row 3, column 'timestamp': duplicate timestamp",
    ),
    "pq_unsorted": (
        _bars(timestamp=[DAYS[0], DAYS[2], DAYS[1]]),
        "row 3, column 'timestamp': timestamp 2024-01-03 00:00:00+00:00 is earlier",
    ),
    "pq_high_below_low": (
        _bars(high=[11.0, 9.0, 12.0]),
        "row 2, column 'high': high 9.0 is below low 10.0",
    ),
    # Clean acceptances.
    "pq_text_with_whitespace": (
        _bars(close=[" 10.5", "11.0 ", " 11.5 "], timestamp=[f" {d:%Y-%m-%d} " for d in DAYS]),
        ACCEPT,
    ),
    "pq_dates": (_bars(timestamp=[d.date() for d in DAYS]), ACCEPT),
    "pq_epoch_seconds": (
        _bars(timestamp=[int(d.replace(tzinfo=UTC).timestamp()) for d in DAYS]),
        ACCEPT,
    ),
    "pq_nanosecond_datetimes": (
        _bars().with_columns(pl.col("timestamp").cast(pl.Datetime("ns"))),
        ACCEPT,
    ),
    "pq_integer_and_decimal_prices": (
        _bars(volume=[1000, 1200, 900], open=[Decimal("10"), Decimal("10.5"), Decimal("11")]),
        ACCEPT,
    ),
    "pq_upper_case_columns": (_bars().rename(str.upper), ACCEPT),
    "pq_new_york_evening": (
        _bars().with_columns(
            (pl.col("timestamp") + pl.duration(hours=20)).dt.replace_time_zone("America/New_York")
        ),
        ACCEPT,
    ),
}

DAY_NS = 86_400 * 10**9
JAN2_NS = 1704153600 * 10**9


def _dbn(
    records: list[tuple[int, float, float, float, float | None]], symbol: str = "GOOD"
) -> bytes:
    """A real ohlcv-1d DBN file: (day offset, open, high, low, close) per record."""
    mappings = [
        SimpleNamespace(
            raw_symbol=symbol,
            intervals=[SimpleNamespace(start_date=START, end_date=END, symbol="15")],
        )
    ]
    metadata = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=JAN2_NS,
        end=JAN2_NS + 3 * DAY_NS,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1D,
        symbols=[symbol],
        mappings=mappings,
    )

    def price(value: float | None) -> int:
        return 2**63 - 1 if value is None else round(value * 10**9)  # None: DBN's "no price"

    body = b"".join(
        bytes(
            dbn.OHLCVMsg(
                dbn.RType.OHLCV_1D,
                2,
                15,
                JAN2_NS + k * DAY_NS,
                price(o),
                price(h),
                price(lo),
                price(c),
                1000,
            )
        )
        for k, o, h, lo, c in records
    )
    return metadata.encode() + body


GOOD_DBN = [(0, 10.0, 11.0, 9.0, 10.5), (1, 10.5, 11.5, 10.0, 11.0), (2, 11.0, 12.0, 10.5, 11.5)]

DBN_CASES: dict[str, tuple[bytes, str]] = {
    "dbn_cut_mid_record": (_dbn(GOOD_DBN)[:-20], "not a complete DBN file"),
    "dbn_cut_one_byte_short": (_dbn(GOOD_DBN)[:-1], "not a complete DBN file"),
    "dbn_cut_in_metadata": (_dbn(GOOD_DBN)[:40], "not a readable DBN file"),
    "dbn_empty": (b"", "not a readable DBN file"),
    "dbn_garbage": (b"\x13\x37" * 100, "not a readable DBN file"),
    "dbn_undefined_price": (
        _dbn([*GOOD_DBN[:2], (2, 11.0, 12.0, 10.5, None)]),
        "column 'close': missing value",
    ),
    "dbn_zero_price": (
        _dbn([*GOOD_DBN[:2], (2, 11.0, 12.0, 0.0, 11.5)]),
        "column 'low': value 0.0 is not a positive finite price",
    ),
    "dbn_high_below_low": (
        _dbn([*GOOD_DBN[:2], (2, 11.0, 10.0, 10.5, 10.6)]),
        "column 'high': high 10.0 is below low 10.5",
    ),
    "dbn_missing_day": (_dbn([GOOD_DBN[0], GOOD_DBN[2]]), "calendar_gaps+missing_symbols"),
    "dbn_split_2_for_1": (_dbn([*GOOD_DBN[:2], (2, 5.4, 6.0, 5.3, 5.6)]), "unexplained_jumps"),
}


def _digest(store: BarStore) -> dict[str, str]:
    """Every stored file's content hash, by name (the actions file included)."""
    files = [store.path(d) for d in store.days()] + [store.actions_path]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def _write(path: Path, content: object) -> None:
    if isinstance(content, str) and content == "truncated":
        pl.DataFrame(GOOD).write_parquet(path)
        path.write_bytes(path.read_bytes()[:-30])
    elif isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        assert isinstance(content, pl.DataFrame)
        content.write_parquet(path)


def _outcome(run: Callable[[], object], store: BarStore, expected: str) -> None:
    before = _digest(store)
    assert before, "the store must hold the clean bars first"
    try:
        result = run()
    except (BarValidationError, ValueError) as error:
        assert expected != ACCEPT and expected.split("+")[0] not in _CHECKS, f"unexpected: {error}"
        assert expected in str(error)
        assert len(str(error).splitlines()) == 1  # one line, not a library traceback
    else:
        failed = [f.check for f in result.findings if not f.passed]
        if expected == ACCEPT:
            assert failed == []
        else:
            assert failed == expected.split("+")
    assert _digest(store) == before


_CHECKS = (
    "non_trading_days",
    "calendar_gaps",
    "unexplained_jumps",
    "duplicates",
    "missing_symbols",
)


def _files_case(tmp_path: Path, name: str, content: object) -> tuple[DirectorySource, BarStore]:
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "BAD.csv").write_text(csv_text(*GOOD_ROWS))
    source = DirectorySource(DirectorySourceConfig(data, calendar="XNYS"))
    store = BarStore(tmp_path / "store" / "raw_bars.parquet")
    assert ingest(source, store, START, END, CONFIG).passed
    (data / "BAD.csv").unlink()
    suffix = ".csv" if name.startswith("csv") else ".parquet"
    _write(data / f"BAD{suffix}", content)
    return source, store


@pytest.mark.parametrize("name", sorted(CSV_CASES) + sorted(PARQUET_CASES))
def test_each_malformed_file_is_one_clear_error_and_leaves_the_store_as_it_was(tmp_path, name):
    content, expected = {**CSV_CASES, **PARQUET_CASES}[name]
    source, store = _files_case(tmp_path, name, content)
    _outcome(lambda: ingest(source, store, START, END, CONFIG), store, expected)


@pytest.mark.parametrize("name", sorted(DBN_CASES))
def test_each_malformed_dbn_file_is_one_clear_error_and_leaves_the_store_as_it_was(tmp_path, name):
    content, expected = DBN_CASES[name]
    data = tmp_path / "dbn"
    data.mkdir()
    (data / "GOOD.ohlcv-1d.dbn").write_bytes(_dbn(GOOD_DBN))
    source = DbnFileSource(DbnFileConfig(data))
    store = BarStore(tmp_path / "store" / "raw_bars.parquet")
    assert ingest(source, store, START, END, CONFIG).passed
    (data / "GOOD.ohlcv-1d.dbn").write_bytes(content)
    _outcome(lambda: ingest(source, store, START, END, CONFIG), store, expected)


@pytest.mark.parametrize("symbol", ["../../outside", "sub/AAPL", "..", "C:\\AAPL", ""])
def test_symbols_that_are_not_plain_names_are_refused(tmp_path, symbol):
    source, store = _files_case(tmp_path, "csv_clean", csv_text(*GOOD_ROWS))
    (tmp_path / "outside.csv").write_text(csv_text(*GOOD_ROWS))
    run = lambda: ingest(source, store, START, END, CONFIG, symbols=["GOOD", symbol])  # noqa: E731
    _outcome(run, store, "is not a plain name")


def test_there_are_at_least_sixty_cases():
    assert len(CSV_CASES) + len(PARQUET_CASES) + len(DBN_CASES) >= 60
    assert calendar_for("XNYS").session_days(START, END) == [d.date() for d in DAYS]
