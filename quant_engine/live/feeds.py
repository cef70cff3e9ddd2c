"""Feeds for the live engine: any async iterator of completed bars in time order.

Real-time sources produce ticks; :func:`quant_engine.data.live_aggregator.stream_bars` turns
them into completed bars. :func:`replay` plays recorded bars back (paper sessions, tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from quant_engine.data.live_aggregator import LiveBar


async def replay(bars: Iterable[LiveBar], pause_seconds: float = 0.0) -> AsyncIterator[LiveBar]:
    """Yield ``bars`` in the order given, pausing between bars of different end times."""
    previous_end = None
    for bar in bars:
        if previous_end is not None and bar.end != previous_end:
            await asyncio.sleep(pause_seconds)
        previous_end = bar.end
        yield bar
