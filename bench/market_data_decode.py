"""Benchmark: decode Databento DBN into canonical bars, and aggregate live ticks into bars.

No target in the issue; the figures show the cost of our layers over the vendors' clients.
- DBN: a day of ``ohlcv-1m`` for ``--symbols`` symbols (390 bars each), written with
  ``databento_dbn`` and decoded by :func:`store_to_bars` (symbol mapping, price scaling,
  validation).
- Live: ``--ticks`` random trades over ``--symbols`` symbols through
  :class:`LiveBarAggregator` into 1-minute bars.
Run: ``.venv/bin/python bench/market_data_decode.py [--symbols 500] [--ticks 1000000]``
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import databento
import databento_dbn as dbn
import numpy as np

from quant_engine.data.live_aggregator import LiveBarAggregator, LiveBarConfig, Tick
from quant_engine.data.sources.databento import store_to_bars

DAY = datetime(2024, 1, 3, tzinfo=UTC)


def dbn_day(n_symbols: int) -> bytes:
    start = int(DAY.timestamp()) * 10**9 + (14 * 60 + 30) * 60 * 10**9
    mappings = [
        SimpleNamespace(
            raw_symbol=f"S{i:04d}",
            intervals=[
                SimpleNamespace(
                    start_date=DAY.date(), end_date=DAY.date() + timedelta(1), symbol=str(i + 1)
                )
            ],
        )
        for i in range(n_symbols)
    ]
    metadata = dbn.Metadata(
        dataset="XNAS.ITCH",
        start=start,
        end=start + 390 * 60 * 10**9,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1M,
        symbols=[m.raw_symbol for m in mappings],
        mappings=mappings,
    )
    price = 100 * 10**9
    records = b"".join(
        bytes(
            dbn.OHLCVMsg(
                dbn.RType.OHLCV_1M,
                2,
                i + 1,
                start + k * 60 * 10**9,
                price,
                price + 10**7,
                price - 10**7,
                price,
                100,
            )
        )
        for k in range(390)
        for i in range(n_symbols)
    )
    return metadata.encode() + records


def best_of(repeat: int, run) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    payload = dbn_day(args.symbols)
    n_bars = args.symbols * 390
    decode_s = best_of(
        args.repeat,
        lambda: store_to_bars(databento.DBNStore.from_bytes(payload), "bench"),
    )

    rng = np.random.default_rng(0)
    offsets = np.sort(rng.uniform(0, 6.5 * 3600, args.ticks))
    symbols = [f"S{i:04d}" for i in rng.integers(0, args.symbols, args.ticks)]
    prices = 100 + rng.normal(0, 0.01, args.ticks).cumsum()
    ticks = [
        Tick(s, DAY + timedelta(seconds=float(o)), float(p), 1.0)
        for s, o, p in zip(symbols, offsets, prices, strict=True)
    ]

    def aggregate() -> None:
        agg = LiveBarAggregator(LiveBarConfig(bar_seconds=60))
        for tick in ticks:
            agg.on_tick(tick)
        agg.flush_all()

    live_s = best_of(args.repeat, aggregate)
    print(
        json.dumps(
            {
                "benchmark": "market_data_decode",
                "dbn_bars": n_bars,
                "dbn_decode_s": round(decode_s, 4),
                "dbn_bars_per_s": round(n_bars / decode_s),
                "live_ticks": args.ticks,
                "live_s": round(live_s, 3),
                "live_ticks_per_s": round(args.ticks / live_s),
            }
        )
    )


if __name__ == "__main__":
    main()
