"""Exports: round trips matched FIFO from fills, and the Parquet tables of every run."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import BarPanel, SimulationConfig, Simulator, SmaCrossover
from quant_engine.simulation.exports import ROUND_TRIP_COLUMNS, round_trips

DAYS = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=k) for k in range(7)]


def _fills(rows, reason=False):
    columns = ["timestamp", "symbol", "quantity", "price", "cost", "position"]
    frame = pl.DataFrame(
        [dict(zip(columns, r[:6], strict=True)) for r in rows],
        schema={
            "timestamp": pl.Datetime("us", "UTC"),
            "symbol": pl.String,
            **{c: pl.Float64 for c in columns[2:]},
        },
    )
    if reason:
        frame = frame.with_columns(pl.Series("reason", [r[6] for r in rows], dtype=pl.String))
    return frame


HAND_MADE = [  # timestamp, symbol, quantity, price, cost, position after, reason
    (DAYS[1], "A", 10.0, 100.0, 1.0, 10.0, "entry"),
    (DAYS[2], "A", 5.0, 110.0, 0.5, 15.0, "entry"),
    (DAYS[2], "B", -4.0, 50.0, 0.2, -4.0, "entry"),
    (DAYS[3], "A", -12.0, 120.0, 1.2, 3.0, None),  # closes the first lot and 2 of the second
    (DAYS[4], "A", -8.0, 90.0, 0.8, -5.0, None),  # closes the last 3, reverses into 5 short
    (DAYS[5], "A", 5.0, 80.0, 0.5, 0.0, "take_profit"),
]


def test_round_trips_match_fifo_with_partial_closes_reversals_and_open_positions():
    trips = round_trips(_fills(HAND_MADE, reason=True), DAYS)
    assert trips.columns == list(ROUND_TRIP_COLUMNS)
    rows = trips.rows(named=True)
    got = [
        (r["symbol"], r["side"], r["quantity"], r["entry_price"], r["exit_price"], r["bars_held"])
        for r in rows
    ]
    assert got == [
        ("A", "long", 10.0, 100.0, 120.0, 2),
        ("A", "long", 2.0, 110.0, 120.0, 1),
        ("A", "long", 3.0, 110.0, 90.0, 2),
        ("B", "short", 4.0, 50.0, None, 4),  # open at the end: held to the last bar
        ("A", "short", 5.0, 90.0, 80.0, 1),
    ]
    # every fill costs 0.1 a share here: a piece pays 0.2 a share, entry and exit together
    assert [r["cost"] for r in rows] == pytest.approx([2.0, 0.4, 0.6, 0.2, 1.0])
    assert [r["pnl"] for r in rows[:3]] + [rows[4]["pnl"]] == pytest.approx(
        [198.0, 19.6, -60.6, 49.0]
    )
    assert rows[0]["return"] == pytest.approx(198.0 / 1000.0)
    assert rows[3]["pnl"] is None and rows[3]["return"] is None and rows[3]["exit_time"] is None
    assert [r["exit_reason"] for r in rows] == ["signal", "signal", "signal", "open", "take_profit"]
    assert rows[4]["exit_time"] == DAYS[5] and rows[0]["entry_time"] == DAYS[1]


def test_without_a_reason_column_every_exit_is_a_signal():
    trips = round_trips(_fills(HAND_MADE), DAYS)
    assert set(trips["exit_reason"]) == {"signal", "open"}


def test_float_residue_of_a_close_is_not_an_open_lot():
    fills = _fills(
        [
            (DAYS[0], "A", 1 / 3, 100.0, 0.0, 1 / 3),
            (DAYS[0], "A", 1 / 3, 100.0, 0.0, 2 / 3),
            (DAYS[1], "A", -(2 / 3) * (1 - 1e-12), 101.0, 0.0, 0.0),  # the book says flat
        ]
    )
    trips = round_trips(fills, DAYS)
    assert trips.height == 2 and "open" not in trips["exit_reason"].to_list()


def test_a_fill_off_the_bars_is_an_error():
    with pytest.raises(ValueError, match="not a bar of the run"):
        round_trips(_fills(HAND_MADE), DAYS[:3])


def test_simulator_artifacts_hold_readable_signals_and_round_trips(tmp_path):
    bars = generate_market(SyntheticMarketConfig(n_symbols=4, n_days=300, seed=5)).bars
    panel = BarPanel.from_bars(bars)
    config = SimulationConfig(portfolio=ConstructionConfig(allocation="per_symbol"))
    result = Simulator(config, SmaCrossover(5, 20), artifacts_root=tmp_path).run(panel)
    signals = pq.read_table(result.artifacts / "signals.parquet")
    assert signals.schema.names == ["timestamp", "symbol", "score", "eligible"]
    assert signals.schema.field("score").type == pa.float64()
    assert signals.schema.field("eligible").type == pa.bool_()
    assert signals.num_rows % 4 == 0 and signals.num_rows > 0
    trips = pq.read_table(result.artifacts / "round_trips.parquet")
    assert trips.schema.names == list(ROUND_TRIP_COLUMNS)
    assert trips.schema.field("entry_time").type == pa.timestamp("us", tz="UTC")
    assert trips.schema.field("bars_held").type == pa.int64()
    table = pl.from_arrow(trips)
    assert table.equals(result.round_trips())
    # per-symbol sleeves enter whole and leave whole: FIFO and average cost realize the same
    closed = table.filter(pl.col("exit_reason") != "open")
    assert closed.height > 0
    assert float((closed["pnl"] + closed["cost"]).sum()) == pytest.approx(
        float(result.trades["realized_pnl"].sum()), rel=1e-9
    )
    # the signals are the strategy's: a decision at every bar once the slow window is full
    scores = pl.from_arrow(signals).filter(pl.col("symbol") == "S000")["score"].to_numpy()
    assert set(np.unique(scores[np.isfinite(scores)])) <= {0.0, 1.0}
