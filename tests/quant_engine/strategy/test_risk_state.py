"""Per-position risk state: validation and exact JSON round trips."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.strategy import Bar, ExitRules, PositionRiskState, RiskBook, evaluate_bar
from tests.quant_engine.strategy.frames import at


def test_a_cycle_state_round_trips_through_json_exactly():
    rules = ExitRules(stop_loss=0.03, take_profit=0.07, trailing_stop=0.045, max_bars=20)
    a = rules.open_position("A", 1, 101.37, at(0), quantity=12.5)
    a, _ = evaluate_bar(a, Bar(at(1), 101.5, 104.123456789, 100.9, 103.3))
    b = rules.open_position("B", -1, 0.1 + 0.2, at(0, timedelta(minutes=1)), quantity=-3.0)
    book = RiskBook(
        timestamp=at(1),
        positions={"A": a, "B": b},
        notes={"signals": {"A": 0.31, "B": -0.7}, "top_n": ["A", "B"]},
    )
    text = book.to_json()
    again = RiskBook.from_json(text)
    assert again == book
    assert again.positions["A"].trailing_stop_price == a.trailing_stop_price  # bit for bit
    assert again.to_json() == text
    assert json.loads(text)["positions"]["A"]["entry_time"] == "2024-01-01T00:00:00+00:00"


finite = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=80, deadline=None)
@given(
    entry=finite,
    stop=st.none() | finite,
    target=st.none() | finite,
    trail=st.none() | st.floats(min_value=1e-6, max_value=0.99),
    when=moments,
    offset_minutes=st.integers(-12 * 60, 12 * 60),
    direction=st.sampled_from([1, -1]),
    held=st.integers(0, 10_000),
)
def test_any_position_state_round_trips_exactly(
    entry, stop, target, trail, when, offset_minutes, direction, held
):
    zone = timezone(timedelta(minutes=offset_minutes))
    state = PositionRiskState(
        symbol="X",
        direction=direction,
        entry_price=entry,
        entry_time=when.astimezone(zone),
        stop_loss_price=stop,
        take_profit_price=target,
        trailing_stop_pct=trail,
        bars_held=held,
        last_update=when + timedelta(days=1),
    )
    again = RiskBook.from_json(RiskBook(when, {"X": state}).to_json()).positions["X"]
    assert again == state
    assert again.entry_time.utcoffset() == state.entry_time.utcoffset()


def test_bad_states_and_bad_json_are_named():
    with pytest.raises(ValueError, match="direction 0"):
        PositionRiskState("A", 0, 100.0, at(0))
    with pytest.raises(ValueError, match="stop_loss_price -1"):
        PositionRiskState("A", 1, 100.0, at(0), stop_loss_price=-1.0)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['colour'\]"):
        PositionRiskState.from_dict(
            {**PositionRiskState("A", 1, 1.0, at(0)).to_dict(), "colour": 1}
        )
    with pytest.raises(ValueError, match="not JSON-safe"):
        RiskBook(at(0), notes={"x": math.nan}).to_json()
    with pytest.raises(ValueError, match="under 'B'"):
        RiskBook(at(0), positions={"B": PositionRiskState("A", 1, 1.0, at(0))})
    with pytest.raises(ValueError, match="lacks key"):
        RiskBook.from_json('{"timestamp": "2024-01-01T00:00:00+00:00"}')


def test_levels_can_be_moved_by_hand():
    state = ExitRules(stop_loss=0.05).open_position("A", 1, 100.0, at(0))
    moved = state.with_levels(stop_loss_price=100.0)  # to break-even
    _, event = evaluate_bar(moved, Bar(at(1), 101.0, 102.0, 99.5, 101.0))
    assert (event.reason, event.price) == ("stop_loss", 100.0)
