"""Rounding intents down to a market's lot, and saying when they cannot be traded."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from quant_engine.brokers.ccxt import _step
from quant_engine.brokers.lots import LotRules, round_price_to_tick, round_to_lot

BTC = LotRules(
    "BTC/USDT",
    quantity_step=Decimal("0.00001"),
    price_tick=Decimal("0.01"),
    min_quantity=Decimal("0.0001"),
    max_quantity=Decimal("9"),
    min_notional=Decimal("5"),
)


def test_rounds_down_to_the_step_and_never_up() -> None:
    rounded = round_to_lot(BTC, Decimal("0.123456789"), Decimal("50000"))
    assert rounded.quantity == Decimal("0.12345") and rounded.tradable
    assert rounded.quantity <= rounded.intended
    exact = round_to_lot(BTC, Decimal("0.5"), Decimal("50000"))
    assert exact.quantity == Decimal("0.5")


def test_caps_at_the_maximum() -> None:
    assert round_to_lot(BTC, Decimal("12.3"), Decimal("1")).quantity == Decimal("9")


@pytest.mark.parametrize(
    ("intended", "price", "reason"),
    [
        ("0.000004", "50000", "less than one step"),
        ("0.00005", "500000", "below the minimum 0.0001"),
        ("0.0009", "5000", "notional 4.5000 is below the minimum 5"),
    ],
)
def test_says_why_an_intent_cannot_be_traded(intended: str, price: str, reason: str) -> None:
    rounded = round_to_lot(BTC, Decimal(intended), Decimal(price))
    assert not rounded.tradable
    assert reason in (rounded.reason or "")


def test_notional_is_left_to_the_exchange_without_a_price() -> None:
    assert round_to_lot(BTC, Decimal("0.0009")).tradable


def test_refuses_a_non_positive_intent() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        round_to_lot(BTC, Decimal(0))


def test_limit_prices_round_toward_the_passive_side() -> None:
    assert round_price_to_tick(BTC, Decimal("100.019"), "buy") == Decimal("100.01")
    assert round_price_to_tick(BTC, Decimal("100.011"), "sell") == Decimal("100.02")
    assert round_price_to_tick(BTC, Decimal("100.01"), "sell") == Decimal("100.01")


def test_ccxt_precision_modes_become_steps() -> None:
    assert _step(ccxt.TICK_SIZE, 0.001) == Decimal("0.001")
    assert _step(ccxt.DECIMAL_PLACES, 3) == Decimal("0.001")
    assert _step(ccxt.SIGNIFICANT_DIGITS, 5) is None
    assert _step(ccxt.TICK_SIZE, None) is None
