"""Deterministic client order ids: the same intent always gets the same id."""

from __future__ import annotations

import hashlib
import re
from datetime import date

from quant_engine.brokers.base import MAX_CLIENT_ORDER_ID, Side

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
_DIGEST_CHARS = 16


def client_order_id(strategy: str, trading_day: date, symbol: str, side: Side, attempt: int) -> str:
    """``<strategy>-<yyyymmdd>-<symbol>-<b|s>-<attempt>``, hashed where too long or unsafe.

    The readable form is used when it fits in 48 characters of ``[A-Za-z0-9._-]``; otherwise a
    readable prefix is kept and the rest is replaced by a SHA-256 digest of the full key, so ids
    of different intents stay different.
    """
    if not strategy or not symbol:
        raise ValueError("strategy and symbol must be non-empty")
    if side not in ("buy", "sell"):
        raise ValueError(f"unknown side {side!r}")
    if attempt < 0:
        raise ValueError(f"attempt {attempt} must be >= 0")
    readable = f"{strategy}-{trading_day:%Y%m%d}-{symbol}-{side[0]}-{attempt}"
    if len(readable) <= MAX_CLIENT_ORDER_ID and _SAFE.match(readable):
        return readable
    digest = hashlib.sha256(readable.encode()).hexdigest()[:_DIGEST_CHARS]
    prefix = re.sub(r"[^A-Za-z0-9._-]", "_", f"{strategy}-{trading_day:%Y%m%d}")
    keep = MAX_CLIENT_ORDER_ID - _DIGEST_CHARS - 1
    return f"{prefix[:keep]}-{digest}"
