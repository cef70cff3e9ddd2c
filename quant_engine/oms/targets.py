"""The day's target portfolio and the account's target quantities, by the decision core.

This is the one place where the live rebalance calls the portfolio-construction rules and the
trade planner, so the live book is built and traded exactly as the backtests build and trade
theirs; only the conversion to exact decimal quantities happens here, at the broker edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import polars as pl

from quant_engine.brokers.base import Position
from quant_engine.brokers.lots import WHOLE_SHARES, LotRules
from quant_engine.portfolio import ConstructionConfig, DecisionCore, target_weights, too_few_scores


def latest_target_portfolio(
    signals: pl.DataFrame, bars: pl.DataFrame, config: ConstructionConfig
) -> pl.DataFrame:
    """Weights for the last day of ``signals``, priced at that day's close.

    Returns one row per symbol with a score and a close that day: ``trading_day`` (the day the
    signal was known, after its close), ``symbol``, ``score``, ``weight`` and ``price``. Bars
    after that day are never read. Symbols without that day's close are left out. Fewer finite
    scores than ``config.valid_scores_needed`` make no targets: a ``ValueError`` says so (an
    empty book would read as "sell everything").
    """
    for frame, name, columns in (
        (signals, "signals", {"timestamp", "symbol", "score"}),
        (bars, "bars", {"timestamp", "symbol", "close"}),
    ):
        missing = columns - set(frame.columns)
        if missing:
            raise ValueError(f"{name} lack column(s) {sorted(missing)}")
    if signals.is_empty():
        raise ValueError("signals are empty: there is no day to build targets for")
    day = signals["timestamp"].max()
    closes = bars.filter(pl.col("timestamp") == day).select(
        "symbol", pl.col("close").alias("price")
    )
    latest = (
        signals.filter(pl.col("timestamp") == day)
        .select("symbol", "score")
        .join(closes, on="symbol", how="inner")
        .filter(pl.col("score").is_finite() & (pl.col("price") > 0))
        .sort("symbol")
    )
    if latest.is_empty():
        raise ValueError(f"no symbol has both a score and a close on {day}")
    scores = latest["score"].to_numpy().astype(float)
    everyone = np.ones(len(scores), dtype=bool)
    if too_few_scores(scores, everyone, config):
        raise ValueError(
            f"only {len(scores)} symbol(s) have a finite score and a close on {day}, fewer than"
            f" the {config.valid_scores_needed} needed (portfolio min_valid_scores): no targets"
        )
    weights = target_weights(scores, everyone, config)
    trading_day = day.date() if hasattr(day, "date") else day
    return latest.with_columns(
        pl.lit(trading_day).alias("trading_day"), pl.Series("weight", weights)
    ).select("trading_day", "symbol", "score", "weight", "price")


def target_quantities(
    core: DecisionCore,
    weights: Mapping[str, float],
    prices: Mapping[str, Decimal],
    positions: Mapping[str, Position],
    cash: Decimal,
    rules: Mapping[str, LotRules] | None = None,
    default_rules: LotRules = WHOLE_SHARES,
    *,
    marks: Mapping[str, Decimal] | None = None,
    adv: Mapping[str, float] | None = None,
    cost_rate: float = 0.0,
) -> dict[str, Decimal]:
    """Signed target quantities that take the account to ``weights`` by the decision core.

    The core's planner decides from the account's positions and cash, with each symbol's lot
    and minimum notional, as :meth:`DecisionCore.plan_holdings` does for a backtest; a symbol it
    leaves alone keeps its exact position. Other targets become decimals rounded toward zero to
    the lot. Symbols held without a price stay put, valued at ``marks`` (else at the broker's
    market price of the position, else its average price), so the weights apply to the whole
    account.
    """
    rules = rules or {}
    symbols = set(weights) | set(positions)
    lots = {s: float(rules.get(s, default_rules).lot) for s in symbols}
    minimum = {s: float(rules.get(s, default_rules).min_notional or 0) for s in symbols}
    held = {s: p.quantity for s, p in positions.items()}
    held_marks = {s: p.market_price or p.average_price for s, p in positions.items()}
    plan = core.plan_holdings(
        {s: float(w) for s, w in weights.items()},
        {s: float(q) for s, q in held.items()},
        float(cash),
        {s: float(p) for s, p in prices.items()},
        marks={s: float(p) for s, p in {**held_marks, **(marks or {})}.items()},
        adv=adv,
        cost_rate=cost_rate,
        lots=lots,
        min_notional=minimum,
    )
    targets: dict[str, Decimal] = {}
    for symbol, shares in plan.target_shares.items():
        current = held.get(symbol, Decimal(0))
        if shares == float(current):
            targets[symbol] = current
            continue
        quantity = rules.get(symbol, default_rules).round_down(abs(Decimal(repr(shares))))
        targets[symbol] = quantity if shares > 0 else -quantity
    return targets
