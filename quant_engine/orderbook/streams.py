"""Seeded random operation streams for tests and benchmarks of the books."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_engine.orderbook.core import OP_DTYPE
from quant_engine.orderbook.types import Op, OpKind, Side, TimeInForce


@dataclass(frozen=True)
class StreamConfig:
    """Mix of operations around a slowly wandering mid price (all in ticks)."""

    n_ops: int = 1_000_000
    seed: int = 0
    n_ticks: int = 100_000
    p_limit: float = 0.55
    p_cancel: float = 0.30
    p_market: float = 0.10
    p_modify: float = 0.05
    p_ioc: float = 0.05
    p_post_only: float = 0.05
    max_qty: int = 100
    spread_ticks: int = 20  # limit prices spread around the mid; a few cross it

    def __post_init__(self) -> None:
        total = self.p_limit + self.p_cancel + self.p_market + self.p_modify
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"operation probabilities must sum to 1, got {total}")


def random_ops(config: StreamConfig) -> np.ndarray:
    """A structured array (``OP_DTYPE``); cancels and modifies target recent order ids, some of
    them already filled or never placed, so the no-op paths are exercised as well."""
    rng = np.random.default_rng(config.seed)
    n = config.n_ops
    ops = np.zeros(n, dtype=OP_DTYPE)
    ops["ts"] = np.arange(n)
    kind = rng.choice(
        np.array([OpKind.LIMIT, OpKind.CANCEL, OpKind.MARKET, OpKind.MODIFY], dtype=np.int8),
        size=n,
        p=[config.p_limit, config.p_cancel, config.p_market, config.p_modify],
    )
    ops["kind"] = kind
    index = np.arange(n)
    lookback = rng.geometric(0.02, size=n)
    ops["order_id"] = np.where(
        (kind == OpKind.CANCEL) | (kind == OpKind.MODIFY), np.maximum(index - lookback, 0), index
    )
    side = rng.integers(0, 2, size=n, dtype=np.int8)
    ops["side"] = side
    mid = config.n_ticks // 2 + np.cumsum(rng.integers(-1, 2, size=n)) // 8
    offset = rng.integers(-2, config.spread_ticks, size=n)
    ops["price"] = np.clip(
        np.where(side == Side.BUY, mid - offset, mid + offset), 0, config.n_ticks - 1
    )
    ops["qty"] = rng.integers(1, config.max_qty + 1, size=n)
    ops["tif"] = np.where(rng.random(n) < config.p_ioc, TimeInForce.IOC, TimeInForce.GTC)
    ops["post_only"] = rng.random(n) < config.p_post_only
    return ops


def as_op_rows(ops: np.ndarray) -> list[Op]:
    """The same operations as :class:`Op` rows for the per-call book."""
    return [
        Op(int(t), OpKind(k), int(o), Side(s), int(p), int(q), TimeInForce(f), bool(po))
        for t, k, o, s, p, q, f, po in ops.tolist()
    ]
