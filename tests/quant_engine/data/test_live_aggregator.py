"""The live bar aggregator: boundaries, flush on timeout, late ticks, and the async driver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.data.live_aggregator import (
    LiveBar,
    LiveBarAggregator,
    LiveBarConfig,
    Tick,
    bars_frame,
    stream_bars,
)
from quant_engine.data.schema import validate_bars

T0 = datetime(2024, 3, 1, 15, 58, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_tick_in_the_next_minute_completes_the_bar():
    agg = LiveBarAggregator(LiveBarConfig(bar_seconds=60), clock=FakeClock(T0))
    for s, price, size in [(1, 10.0, 1), (20, 12.0, 2), (40, 9.0, 3), (59.9, 11.0, 4)]:
        assert agg.on_tick(Tick("AAPL", at(s), price, size)) == []
    (bar,) = agg.on_tick(Tick("AAPL", at(61), 11.5, 1))
    assert (bar.symbol, bar.start, bar.end) == ("AAPL", T0, T0 + timedelta(minutes=1))
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.updates) == (
        10.0,
        12.0,
        9.0,
        11.0,
        10.0,
        4,
    )


def test_the_last_bar_is_flushed_after_the_timeout_without_a_new_tick():
    clock = FakeClock(at(90))
    agg = LiveBarAggregator(LiveBarConfig(bar_seconds=60, flush_timeout_s=2.0), clock=clock)
    agg.on_tick(Tick("AAPL", at(119), 100.0, 5))  # the 15:59 bar, then the market goes quiet
    assert agg.next_deadline() == at(122)
    clock.now = at(121.9)
    assert agg.flush_due() == []
    clock.now = at(122)
    (bar,) = agg.flush_due()
    assert bar.start == at(60) and bar.close == 100.0
    assert agg.next_deadline() is None and agg.flush_due() == []


def test_a_tick_for_an_emitted_bar_is_dropped_not_reemitted():
    agg = LiveBarAggregator(LiveBarConfig(flush_timeout_s=1.0))
    agg.on_tick(Tick("AAPL", at(10), 100.0, 1))
    assert len(agg.flush_due(now=at(61))) == 1
    assert agg.on_tick(Tick("AAPL", at(50), 999.0, 1)) == []  # straggler after the flush
    assert agg.late_updates == 1 and agg.flush_all() == []
    agg.on_tick(Tick("MSFT", at(130), 50.0, 1))
    assert agg.on_tick(Tick("AAPL", at(70), 101.0, 1)) == []  # older than the latest period
    assert agg.late_updates == 2


def test_a_boundary_closes_every_symbol_in_time_order():
    agg = LiveBarAggregator(LiveBarConfig())
    agg.on_tick(Tick("MSFT", at(5), 50.0, 1))
    agg.on_tick(Tick("AAPL", at(7), 100.0, 1))
    agg.on_tick(Tick("AAPL", at(65), 101.0, 1))  # closes AAPL's and MSFT's first minute
    bars = agg.on_tick(Tick("AAPL", at(185), 102.0, 1))  # closes AAPL's second minute
    assert [(b.symbol, b.start) for b in bars] == [("AAPL", at(60))]
    agg2 = LiveBarAggregator(LiveBarConfig())
    agg2.on_tick(Tick("MSFT", at(5), 50.0, 1))
    agg2.on_tick(Tick("AAPL", at(7), 100.0, 1))
    closed = agg2.on_tick(Tick("ZZZ", at(61), 1.0, 1))
    assert [(b.symbol, b.start) for b in closed] == [("AAPL", T0), ("MSFT", T0)]


def test_five_second_sub_bars_make_five_minute_bars():
    agg = LiveBarAggregator(LiveBarConfig(bar_seconds=300))
    out = []
    for k in range(60 * 2):  # ten minutes of 5-second bars from 15:58 (not on a 5-min mark)
        price = 100 + k
        out += agg.add("ES", at(5 * k), price, price + 0.5, price - 0.5, price + 0.25, 2.0)
    out += agg.flush_all()
    assert [b.start for b in out] == [
        datetime(2024, 3, 1, 15, 55, tzinfo=UTC),
        datetime(2024, 3, 1, 16, 0, tzinfo=UTC),
        datetime(2024, 3, 1, 16, 5, tzinfo=UTC),
    ]
    assert [b.updates for b in out] == [24, 60, 36]
    first = out[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        100,
        123.5,
        99.5,
        123.25,
        48.0,
    )


def test_random_ticks_match_a_batch_aggregation():
    rng = np.random.default_rng(7)
    n = 3_000
    seconds = np.sort(rng.uniform(0, 1_800, n))
    symbols = rng.choice(["AAA", "BBB", "CCC"], n)
    prices = 100 + rng.normal(0, 1, n).cumsum()
    sizes = rng.integers(1, 100, n).astype(float)
    agg = LiveBarAggregator(LiveBarConfig(bar_seconds=60))
    live = []
    for s, sym, p, q in zip(seconds, symbols, prices, sizes, strict=True):
        live += agg.on_tick(Tick(str(sym), at(float(s)), float(p), float(q)))
    live += agg.flush_all()
    assert agg.late_updates == 0
    ticks = pl.DataFrame(
        {"symbol": symbols, "timestamp": [at(float(s)) for s in seconds], "p": prices, "q": sizes}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    batch = (
        ticks.group_by("symbol", pl.col("timestamp").dt.truncate("1m"), maintain_order=True)
        .agg(
            open=pl.col("p").first(),
            high=pl.col("p").max(),
            low=pl.col("p").min(),
            close=pl.col("p").last(),
            volume=pl.col("q").sum(),
        )
        .sort("symbol", "timestamp")
    )
    frame = bars_frame(live)
    assert validate_bars(frame).equals(frame)
    assert frame.equals(batch.select(frame.columns))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="bar_seconds must divide a day"):
        LiveBarConfig(bar_seconds=7)
    with pytest.raises(ValueError, match="has no timezone"):
        LiveBarAggregator(LiveBarConfig()).on_tick(Tick("A", datetime(2024, 1, 1), 1.0))


async def quiet_feed(ticks: list[Tick], stop: asyncio.Event):
    """Yields ``ticks``, then stays silent until ``stop`` is set."""
    for tick in ticks:
        yield tick
    await stop.wait()


def test_the_stream_flushes_when_the_feed_goes_quiet():
    async def run() -> LiveBar:
        clock = FakeClock(at(62))  # already past the bar's end plus the timeout
        agg = LiveBarAggregator(LiveBarConfig(flush_timeout_s=2.0), clock=clock)
        stream = stream_bars(quiet_feed([Tick("AAPL", at(59), 11.0, 2)], asyncio.Event()), agg)
        bar = await asyncio.wait_for(anext(stream), timeout=30)
        await stream.aclose()
        return bar

    bar = asyncio.run(run())
    assert (bar.start, bar.open, bar.close, bar.volume) == (T0, 11.0, 11.0, 2.0)


def test_the_stream_wakes_itself_for_the_flush_deadline():
    async def run() -> tuple[LiveBar, datetime]:
        agg = LiveBarAggregator(LiveBarConfig(bar_seconds=1, flush_timeout_s=0.05))
        tick = Tick("BTC/USDT", datetime.now(UTC), 60_000.0, 0.1)
        stream = stream_bars(quiet_feed([tick], asyncio.Event()), agg)
        bar = await asyncio.wait_for(anext(stream), timeout=30)
        await stream.aclose()
        return bar, datetime.now(UTC)

    bar, emitted_at = asyncio.run(run())
    assert bar.close == 60_000.0
    assert emitted_at >= bar.end + timedelta(seconds=0.05)  # not before its flush deadline


def test_the_stream_emits_open_bars_when_the_feed_ends():
    async def feed():
        for tick in (Tick("AAPL", at(1), 10.0, 1), Tick("AAPL", at(61), 11.0, 1)):
            yield tick

    async def run() -> list:
        agg = LiveBarAggregator(LiveBarConfig(flush_timeout_s=3600), clock=FakeClock(at(0)))
        return [bar async for bar in stream_bars(feed(), agg)]

    bars = asyncio.run(run())
    assert [(b.start, b.close) for b in bars] == [(T0, 10.0), (at(60), 11.0)]
