"""Benchmark: plan and risk-check a daily rebalance of a large universe.

Target (issue 5): planning and risk-checking a rebalance of 500 symbols in under 0.2 s.
The account is a paper broker holding 300 of the symbols; the targets are 500 lot-rounded
positions from equal weights. Timed (best of ``--repeat``): the plan from positions, open orders
and cash, and the risk gate's check of every planned order against all of its limits. Reading
the account through the gate (database I/O, once per phase) is timed separately. The targets come
from the decision core's trade planner (``target_quantities``), the plan from the order management.
Run: ``.venv/bin/python bench/rebalance.py [--symbols 500] [--repeat 20]``
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from quant_engine.brokers.base import OrderRequest
from quant_engine.brokers.lots import LotRules
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote
from quant_engine.oms import client_order_id, plan_rebalance, target_quantities
from quant_engine.portfolio import DecisionCore
from quant_engine.risk import RiskConfig, RiskGate, RiskRejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    now = datetime.now(UTC)
    rng = np.random.default_rng(7)
    symbols = [f"S{i:04d}" for i in range(args.symbols)]
    prices = {
        s: Decimal(str(round(p, 2)))
        for s, p in zip(symbols, rng.uniform(5, 500, len(symbols)), strict=True)
    }
    quotes = {s: Quote(p, now, sigma=0.02, adv=5e7) for s, p in prices.items()}
    rules = {s: LotRules(s, quantity_step=Decimal(1), min_notional=Decimal(1)) for s in symbols}
    with tempfile.TemporaryDirectory() as tmp:
        broker = PaperBroker(
            PaperBrokerConfig(database=str(Path(tmp) / "paper.db"), initial_cash=Decimal(10**7))
        )
        broker.set_quotes(quotes)
        for i, symbol in enumerate(symbols[: int(len(symbols) * 0.6)]):
            broker.submit(
                OrderRequest(f"seed-{i}", symbol, "buy", Decimal(int(rng.integers(1, 50))))
            )
        gate = RiskGate(
            broker,
            RiskConfig(
                state_path=str(Path(tmp) / "risk.json"),
                max_order_value=Decimal(10**6),
                max_order_quantity=Decimal(10**6),
                max_position_value=Decimal(10**7),
                max_gross_exposure=Decimal(10**9),
                max_positions=10_000,
                max_orders_per_minute=10_000,
                max_daily_loss=Decimal(10**7),
                max_drawdown_pct=Decimal("0.5"),
                max_price_deviation_pct=Decimal("0.1"),
                max_price_age_seconds=3600,
            ),
        )
        gate.update_quotes(quotes)
        weights = dict(zip(symbols, rng.dirichlet(np.ones(len(symbols))), strict=True))
        core = DecisionCore()  # the one trade planner, as the backtests run it
        read_times, plan_times, check_times = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            positions = gate.positions()
            open_orders = gate.open_orders()
            account = gate.account()
            read_times.append(time.perf_counter() - start)

            start = time.perf_counter()
            targets = target_quantities(core, weights, prices, positions, account.cash, rules)
            plan = plan_rebalance(targets, prices, positions, account.cash, open_orders, rules)
            plan_times.append(time.perf_counter() - start)

            start = time.perf_counter()
            day, rejected = now.date(), 0
            for order in plan.orders:
                coid = client_order_id("bench", day, order.symbol, order.side, 0)
                try:
                    gate.check(OrderRequest(coid, order.symbol, order.side, order.quantity))
                except RiskRejected:
                    rejected += 1
            check_times.append(time.perf_counter() - start)
    plan_s, check_s = min(plan_times), min(check_times)
    print(
        json.dumps(
            {
                "symbols": args.symbols,
                "orders": len(plan.orders),
                "rejected": rejected,
                "plan_s": round(plan_s, 4),
                "risk_check_s": round(check_s, 4),
                "plan_and_check_s": round(plan_s + check_s, 4),
                "target_s": 0.2,
                "account_read_s": round(min(read_times), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
