"""Split and dividend adjustment; a 4-for-1 split without its action fails the jump check."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.data.corporate_actions import (
    CorporateActionError,
    adjust_bars,
    load_actions,
    validate_actions,
)
from quant_engine.data.quality import unexplained_jumps
from quant_engine.data.store import bar_day

EX_DATE = date(2016, 7, 1)
SPLIT = pl.DataFrame(
    {"symbol": ["S002"], "ex_date": [EX_DATE], "split_ratio": [4.0], "dividend": [0.0]}
)


@pytest.fixture(scope="module")
def year() -> pl.DataFrame:
    """A year of three symbols from the synthetic market: realistic moves, no corporate action."""
    return generate_market(SyntheticMarketConfig(n_symbols=3, n_days=252, seed=5)).bars


def _split_4_for_1(bars: pl.DataFrame) -> pl.DataFrame:
    """The same series as traded: S002's prices quartered and volume quadrupled from EX_DATE."""
    after = (pl.col("symbol") == "S002") & (bar_day() >= EX_DATE)
    return bars.with_columns(
        *(
            pl.when(after).then(pl.col(c) / 4).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ),
        pl.when(after).then(pl.col("volume") * 4).otherwise(pl.col("volume")).alias("volume"),
    )


def test_a_4_for_1_split_is_adjusted_and_raw_prices_are_kept(year):
    traded = _split_4_for_1(year)
    adjusted = adjust_bars(traded, SPLIT)
    s003 = adjusted.filter(pl.col("symbol") == "S002")
    original = year.filter(pl.col("symbol") == "S002")
    # Backward adjustment: the whole history is in post-split shares.
    assert s003["close"].to_numpy() == pytest.approx(original["close"].to_numpy() / 4)
    assert s003["volume"].to_numpy() == pytest.approx(original["volume"].to_numpy() * 4)
    assert_frame_equal(
        s003.select(pl.col("raw_close").alias("close")),
        traded.filter(pl.col("symbol") == "S002").select("close"),
    )
    before = s003.filter(bar_day() < EX_DATE)["adj_factor"].unique().to_list()
    assert before == [0.25] and s003.filter(bar_day() >= EX_DATE)[
        "adj_factor"
    ].unique().to_list() == [1.0]
    others = adjusted.filter(pl.col("symbol") != "S002")
    assert_frame_equal(others.select(year.columns), year.filter(pl.col("symbol") != "S002"))


def test_the_split_without_its_action_fails_the_jump_check_naming_date_and_symbol(year):
    assert unexplained_jumps(year, 0.5).passed  # the real-looking series has no such move
    traded = _split_4_for_1(year)
    assert unexplained_jumps(traded, 0.5, SPLIT).passed
    finding = unexplained_jumps(traded, 0.5)
    assert finding.count == 1
    row = finding.rows.row(0, named=True)
    assert row["symbol"] == "S002"
    assert row["timestamp"].date() == EX_DATE
    assert row["ret"] == pytest.approx(-0.75, abs=0.1)


def test_a_dividend_scales_earlier_prices_by_one_minus_dividend_over_previous_close(year):
    bars = year.filter(pl.col("symbol") == "S001")
    prev_close = bars.filter(bar_day() < EX_DATE)["close"][-1]
    dividend = pl.DataFrame(
        {
            "symbol": ["S001"],
            "ex_date": [EX_DATE],
            "split_ratio": [1.0],
            "dividend": [prev_close * 0.02],
        }
    )
    adjusted = adjust_bars(bars, dividend)
    assert adjusted.filter(bar_day() < EX_DATE)["adj_factor"].unique().to_list() == pytest.approx(
        [0.98]
    )
    assert adjusted.filter(bar_day() >= EX_DATE)["close"].equals(
        bars.filter(bar_day() >= EX_DATE)["close"]
    )
    assert adjusted["volume"].equals(bars["volume"])


def test_actions_load_from_csv_and_bad_rows_are_named(tmp_path: Path):
    path = tmp_path / "actions.csv"
    path.write_text(
        "symbol,ex_date,split_ratio,dividend\nS002,2016-07-01,4,0\nS001,2016-03-01,1,0.5\n"
    )
    actions = load_actions(path)
    assert actions["ex_date"].to_list() == [date(2016, 3, 1), date(2016, 7, 1)]
    path.write_text(
        "symbol,ex_date,split_ratio,dividend\nS002,2016-07-01,4,0\nS001,2016-03-01,-2,0\n"
    )
    with pytest.raises(
        CorporateActionError, match=r"actions.csv, row 2, column 'split_ratio'.*'-2'"
    ):
        load_actions(path)
    with pytest.raises(CorporateActionError, match="row 2, column 'ex_date'"):
        validate_actions(
            pl.DataFrame(
                {
                    "symbol": ["A", "B"],
                    "ex_date": ["2016-01-04", "July"],
                    "split_ratio": [1.0, 1.0],
                    "dividend": [0.0, 0.0],
                }
            )
        )
    with pytest.raises(CorporateActionError, match="duplicate"):
        validate_actions(pl.concat([SPLIT, SPLIT]))
    with pytest.raises(CorporateActionError, match="missing column"):
        validate_actions(SPLIT.drop("dividend"))
