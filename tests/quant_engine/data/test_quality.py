"""Each data-quality check finds what it should (count and rows) and passes clean bars."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.calendars import calendar_for
from quant_engine.data.quality import (
    calendar_gaps,
    duplicate_bars,
    off_calendar_bars,
    ohlc_inconsistencies,
    schema_problems,
    short_histories,
    stale_symbols,
    unexplained_jumps,
)
from quant_engine.data.schema import BAR_SCHEMA
from quant_engine.data.sources.synthetic import SyntheticSource

NYSE = calendar_for("XNYS")


def _bars(rows: list[tuple]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            (symbol, datetime.fromisoformat(day).replace(tzinfo=UTC), o, h, lo, c, v)
            for symbol, day, o, h, lo, c, v in rows
        ],
        schema=list(BAR_SCHEMA),
        orient="row",
    )
    return frame.cast(BAR_SCHEMA)


def _bar(symbol: str, day: str, close: float = 10.0, volume: float = 100.0) -> tuple:
    return (symbol, day, close, close + 1, close - 1, close, volume)


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=4, n_days=120, seed=9))
    return source.fetch(None, date(2016, 1, 1), date(2017, 1, 1))


def test_clean_bars_pass_every_check(clean):
    weekdays = calendar_for("24/5")
    for finding in (
        schema_problems(clean),
        ohlc_inconsistencies(clean),
        duplicate_bars(clean),
        calendar_gaps(clean, weekdays),
        off_calendar_bars(clean, weekdays),
        stale_symbols(clean),
        short_histories(clean, 120),
    ):
        assert finding.passed and finding.count == 0, finding.check


def test_schema_problems_name_the_column_and_the_types(clean):
    finding = schema_problems(clean.drop("volume").with_columns(pl.col("close").cast(pl.String)))
    assert finding.rows.rows() == [("close", "Float64", "String"), ("volume", "Float64", "missing")]


def test_ohlc_inconsistencies_say_what_is_wrong():
    bars = _bars(
        [
            _bar("A", "2024-01-02"),
            ("A", "2024-01-03", 10.0, 9.0, 11.0, 10.0, 1.0),  # high below low
            ("B", "2024-01-02", 12.5, 12.0, 9.0, 10.0, 1.0),  # open above high
            ("B", "2024-01-03", 10.0, 11.0, 9.0, 10.0, -5.0),  # negative volume
            ("C", "2024-01-02", 10.0, 11.0, -1.0, 10.0, 1.0),  # non-positive price
        ]
    )
    finding = ohlc_inconsistencies(bars)
    assert finding.count == 4
    assert finding.rows["problem"].to_list() == [
        "high below low",
        "open outside [low, high]",
        "missing or negative volume",
        "missing or non-positive price",
    ]


def test_duplicates_report_every_copy():
    bars = _bars([_bar("A", "2024-01-02"), _bar("A", "2024-01-02", 11.0), _bar("B", "2024-01-02")])
    finding = duplicate_bars(bars)
    assert finding.count == 2 and finding.rows["symbol"].to_list() == ["A", "A"]


def test_gaps_against_the_calendar_and_bars_on_closed_days():
    bars = _bars(
        [
            _bar("A", "2024-11-26"),
            _bar("A", "2024-11-29"),  # 27th missing; the 28th is Thanksgiving
            _bar("B", "2024-11-26"),
            _bar("B", "2024-11-27"),
            _bar("B", "2024-11-28"),  # Thanksgiving: no session
            _bar("B", "2024-11-29"),
        ]
    )
    gaps = calendar_gaps(bars, NYSE)
    assert gaps.rows.rows() == [("A", date(2024, 11, 27))]
    # A wider window names a session nobody has bars for (symbol None).
    wider = calendar_gaps(bars, NYSE, date(2024, 11, 25), date(2024, 11, 30))
    assert wider.rows.rows() == [(None, date(2024, 11, 25)), ("A", date(2024, 11, 27))]
    closed = off_calendar_bars(bars, NYSE)
    assert closed.count == 1
    assert closed.rows.select("symbol", "day").rows() == [("B", date(2024, 11, 28))]
    assert off_calendar_bars(bars, calendar_for("24/7")).passed


def test_stale_symbols_repeat_the_same_bar():
    days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"]
    bars = _bars(
        [_bar("FROZEN", d) for d in days]
        + [_bar("LIVE", d, close=10.0 + i) for i, d in enumerate(days)]
    )
    finding = stale_symbols(bars, max_flat_bars=5)
    assert finding.rows["symbol"].to_list() == ["FROZEN"]
    assert finding.rows["flat_bars"].to_list() == [6]
    assert stale_symbols(bars, max_flat_bars=7).passed


def test_short_histories_and_examples(clean):
    finding = short_histories(clean.filter(pl.col("symbol") != "S000").head(130), 100)
    assert finding.count == 1 and finding.examples(1).height == 1


def _closes(*closes: float, symbol: str = "A") -> pl.DataFrame:
    days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    return _bars([_bar(symbol, day, close) for day, close in zip(days, closes, strict=False)])


@pytest.mark.parametrize(
    ("closes", "looks_like"),
    [
        ((100.0, 50.5, 51.0), "2:1 split"),  # a 2-for-1 split on an up day: -49.5%
        ((90.0, 60.0, 60.5), "3:2 split"),  # -33%
        ((90.0, 61.5, 61.0), "3:2 split"),  # and on a 2.5% up day
        ((100.0, 33.0, 33.2), "3:1 split"),
        ((70.0, 10.1, 10.0), "7:1 split"),
        ((10.0, 15.2, 15.0), "2:3 reverse split"),
        ((10.0, 99.0, 98.0), "1:10 reverse split"),
    ],
)
def test_a_move_near_a_split_ratio_is_a_jump_whatever_the_threshold(closes, looks_like):
    finding = unexplained_jumps(_closes(*closes), max_abs_return=0.9)
    assert finding.count == 1
    row = finding.rows.row(0, named=True)
    assert row["looks_like"] == looks_like and row["timestamp"].date() == date(2024, 1, 3)


def test_the_split_on_file_explains_it_and_ordinary_moves_are_no_jumps():
    actions = pl.DataFrame(
        {"symbol": ["A"], "ex_date": [date(2024, 1, 3)], "split_ratio": [2.0], "dividend": [0.0]}
    )
    assert unexplained_jumps(_closes(100.0, 50.5, 51.0), 0.5, actions).passed
    assert unexplained_jumps(_closes(100.0, 80.0, 104.0, 83.2), 0.5).passed  # -20%, +30%, -20%
    assert unexplained_jumps(_closes(100.0, 40.0), 0.5).count == 1  # -60%: beyond the threshold
