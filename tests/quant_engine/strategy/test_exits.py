"""Exit rules on crafted bar sequences: the conservative intrabar rule, gaps, trailing, time."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.strategy import Bar, ExitRules, RiskBook, advance_book, evaluate_bar, run_exits
from tests.quant_engine.strategy.frames import at


def bar(step: int, o: float, h: float, low: float, c: float) -> Bar:
    return Bar(at(step), o, h, low, c)


LONG = ExitRules(stop_loss=0.05, take_profit=0.10).open_position("A", 1, 100.0, at(0), 10.0)
SHORT = ExitRules(stop_loss=0.05, take_profit=0.10).open_position("A", -1, 100.0, at(0), -10.0)


def test_levels_sit_on_the_right_side_of_the_entry():
    assert LONG.stop_loss_price == pytest.approx(95.0)
    assert LONG.take_profit_price == pytest.approx(110.0)
    assert SHORT.stop_loss_price == pytest.approx(105.0)
    assert SHORT.take_profit_price == pytest.approx(90.0)


def test_a_bar_touching_stop_and_target_exits_at_the_stop():
    _, event = evaluate_bar(LONG, bar(1, 100, 111, 94, 105))
    assert (event.reason, event.price) == ("stop_loss", pytest.approx(95.0))
    _, event = evaluate_bar(SHORT, bar(1, 100, 106, 89, 95))
    assert (event.reason, event.price) == ("stop_loss", pytest.approx(105.0))


def test_take_profit_fills_at_the_target_when_the_stop_is_untouched():
    _, event = evaluate_bar(LONG, bar(1, 100, 111, 97, 108))
    assert (event.reason, event.price) == ("take_profit", pytest.approx(110.0))
    _, event = evaluate_bar(SHORT, bar(1, 100, 104, 89, 92))
    assert (event.reason, event.price) == ("take_profit", pytest.approx(90.0))


def test_gaps_through_a_level_fill_at_the_open():
    _, stopped = evaluate_bar(LONG, bar(1, 90, 92, 88, 91))
    assert (stopped.reason, stopped.price) == ("stop_loss", 90.0)  # worse than the stop
    _, target = evaluate_bar(LONG, bar(1, 112, 115, 111, 113))
    assert (target.reason, target.price) == ("take_profit", 112.0)
    _, short_stopped = evaluate_bar(SHORT, bar(1, 108, 109, 107, 108))
    assert (short_stopped.reason, short_stopped.price) == ("stop_loss", 108.0)


def test_quiet_bars_leave_the_position_open():
    state, event = evaluate_bar(LONG, bar(1, 100, 104, 96, 103))
    assert event is None and state.bars_held == 1 and state.last_update == at(1)


def test_trailing_stop_ratchets_up_only_and_uses_the_level_set_before_the_bar():
    state = ExitRules(trailing_stop=0.05).open_position("A", 1, 100.0, at(0))
    assert state.trailing_stop_price == pytest.approx(95.0)
    state, event = evaluate_bar(state, bar(1, 100, 110, 99, 108))
    assert event is None and state.trailing_stop_price == pytest.approx(104.5)
    state, event = evaluate_bar(state, bar(2, 108, 109, 105, 106))  # lower high: no move down
    assert event is None and state.trailing_stop_price == pytest.approx(104.5)
    # This bar's high of 120 cannot lift the stop before its low of 104 is tested against it.
    _, event = evaluate_bar(state, bar(3, 106, 120, 104, 119))
    assert (event.reason, event.price) == ("trailing_stop", pytest.approx(104.5))


def test_short_trailing_stop_ratchets_down():
    state = ExitRules(trailing_stop=0.1).open_position("A", -1, 100.0, at(0))
    state, _ = evaluate_bar(state, bar(1, 100, 101, 80, 82))
    assert state.trailing_stop_price == pytest.approx(88.0)
    state, _ = evaluate_bar(state, bar(2, 82, 85, 81, 84))
    assert state.trailing_stop_price == pytest.approx(88.0)
    _, event = evaluate_bar(state, bar(3, 84, 89, 83, 88))
    assert (event.reason, event.price) == ("trailing_stop", pytest.approx(88.0))


def test_the_nearest_of_stop_loss_and_trailing_stop_triggers():
    state = ExitRules(stop_loss=0.05, trailing_stop=0.05).open_position("A", 1, 100.0, at(0))
    state, _ = evaluate_bar(state, bar(1, 100, 110, 99, 108))
    _, event = evaluate_bar(state, bar(2, 108, 108, 90, 91))
    assert (event.reason, event.price) == ("trailing_stop", pytest.approx(104.5))


def test_time_exit_leaves_at_the_close_of_the_last_bar():
    state = ExitRules(max_bars=3, stop_loss=0.5).open_position("A", 1, 100.0, at(0))
    bars = [bar(i, 100, 110, 99, 100 + i) for i in range(1, 6)]
    state, event = run_exits(state, bars)
    assert (event.reason, event.price, event.timestamp, state.bars_held) == ("time", 103, at(3), 3)


def test_run_exits_walks_a_frame_until_the_first_exit():
    frame = pl.DataFrame(
        {
            "timestamp": [at(i) for i in range(1, 5)],
            "open": [100.0, 103.0, 105.0, 111.0],
            "high": [104.0, 106.0, 109.0, 120.0],
            "low": [99.0, 102.0, 104.0, 96.0],
            "close": [103.0, 105.0, 108.0, 118.0],
            "volume": [1.0] * 4,
        }
    )
    state, event = run_exits(LONG, frame)
    assert (event.reason, event.price, event.timestamp) == ("take_profit", 111.0, at(4))
    assert state.bars_held == 4
    state, event = run_exits(LONG, frame.head(3))
    assert event is None and state.bars_held == 3


def test_stale_or_early_bars_are_refused():
    state, _ = evaluate_bar(LONG, bar(1, 100, 101, 99, 100))
    with pytest.raises(ValueError, match="not after the last bar"):
        evaluate_bar(state, bar(1, 100, 101, 99, 100))
    late = ExitRules().open_position("A", 1, 100.0, at(5))
    with pytest.raises(ValueError, match="precedes entry"):
        evaluate_bar(late, bar(4, 100, 101, 99, 100))
    with pytest.raises(ValueError, match="inconsistent bar"):
        evaluate_bar(LONG, bar(1, 100, 99, 101, 100))
    with pytest.raises(ValueError, match="inconsistent bar"):
        evaluate_bar(LONG, bar(1, 1, 2, 0, 1))


def test_advance_book_removes_exited_positions_and_carries_the_rest():
    rules = ExitRules(stop_loss=0.05, take_profit=0.10)
    book = RiskBook(
        timestamp=at(0),
        positions={
            "A": rules.open_position("A", 1, 100.0, at(0)),
            "B": rules.open_position("B", 1, 50.0, at(0)),
            "C": rules.open_position("C", -1, 20.0, at(0)),
        },
        notes={"cycle": 0},
    )
    book, exits = advance_book(book, {"A": bar(1, 100, 101, 94, 95), "B": bar(1, 50, 51, 49, 50.5)})
    assert [(e.symbol, e.reason) for e in exits] == [("A", "stop_loss")]
    assert sorted(book.positions) == ["B", "C"] and book.timestamp == at(1)
    assert book.positions["B"].bars_held == 1 and book.positions["C"].bars_held == 0


price_moves = st.lists(
    st.tuples(
        st.floats(-0.05, 0.05), st.floats(0, 0.05), st.floats(0, 0.05), st.floats(-0.05, 0.05)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(moves=price_moves, direction=st.sampled_from([1, -1]))
def test_trailing_stop_only_moves_in_the_positions_favour(moves, direction):
    state = ExitRules(trailing_stop=0.2).open_position("A", direction, 100.0, at(0))
    levels, price = [state.trailing_stop_price], 100.0
    for step, (gap, up, down, move) in enumerate(moves, start=1):
        o = price * (1 + gap)
        c = o * (1 + move)
        h, low = max(o, c) * (1 + up), min(o, c) * (1 - down)
        state, event = evaluate_bar(state, Bar(at(step, timedelta(hours=1)), o, h, low, c))
        if event is not None:
            stop = levels[-1]
            assert event.reason == "trailing_stop"
            assert direction * event.price <= direction * stop + 1e-9  # never better than stop
            break
        levels.append(state.trailing_stop_price)
        price = c
    assert np.all(direction * np.diff(levels) >= 0)


def test_a_gap_through_the_target_is_a_take_profit_at_the_open_even_if_the_bar_falls_back():
    rules = ExitRules(stop_loss=0.05, take_profit=0.05)
    long = rules.open_position("A", 1, 100.0, at(0), 10.0)
    _, event = evaluate_bar(long, bar(1, 106, 107, 94, 100))
    assert (event.reason, event.price) == ("take_profit", 106.0)
    short = rules.open_position("A", -1, 100.0, at(0), -10.0)
    _, event = evaluate_bar(short, bar(1, 94, 106, 93, 100))
    assert (event.reason, event.price) == ("take_profit", 94.0)
