"""Benchmark: the order book on a seeded stream of mixed limit/cancel/market/modify operations.

Targets (issue 16): the per-call Python API (``submit_limit``, ``submit_market``, ``cancel``,
``modify``, one call per operation, then ``results()`` for every fill) at least 2 million
operations per second, the batch core (``ArrayOrderBook.process``) at least 15 million, on
1 million operations, with the same fills and outcomes.
Run: ``.venv/bin/python bench/order_book.py [--ops 1000000] [--seed 0] [--repeat 3]``
Prints one JSON line: ops/s of each API (best of ``--repeat``, by wall clock and by process CPU
time, which a loaded machine distorts less), whether both produced the same fills, the load
average, and peak RSS after each phase. Compilation is excluded (the kernel is compiled and
cached on a small warm-up stream first), and so is building each book with room for the
stream's orders. The per-call loop reads the stream as plain Python tuples, as a caller's own
data would be, dispatches on the kind itself and calls the four methods bound to local names.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

from quant_engine.orderbook import ArrayOrderBook, BatchResult, OpKind, OrderBook, OrderBookConfig
from quant_engine.orderbook.streams import StreamConfig, random_ops

LIMIT, MARKET, CANCEL = int(OpKind.LIMIT), int(OpKind.MARKET), int(OpKind.CANCEL)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _per_call(book: OrderBook, rows: list[tuple]) -> BatchResult:
    """One API call per operation, then every outcome (which matches what is pending)."""
    submit_limit, submit_market = book.submit_limit, book.submit_market
    cancel, modify = book.cancel, book.modify
    for ts, kind, order_id, side, price, qty, tif, post_only in rows:
        if kind == LIMIT:
            submit_limit(order_id, side, price, qty, tif=tif, post_only=post_only, ts=ts)
        elif kind == CANCEL:
            cancel(order_id, ts=ts)
        elif kind == MARKET:
            submit_market(order_id, side, qty, ts=ts)
        else:
            modify(order_id, price, qty, ts=ts)
    return book.results()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    stream = StreamConfig(n_ops=args.ops, seed=args.seed)
    config = OrderBookConfig(n_ticks=stream.n_ticks)
    ops = random_ops(stream)
    ArrayOrderBook(config).process(ops[:1000])  # compile (or load the cached kernel)

    batch_times, batch_cpu = [], []
    for _ in range(args.repeat):
        book = ArrayOrderBook(config, capacity=args.ops)
        started, cpu = time.perf_counter(), time.process_time()
        batch = book.process(ops)
        batch_times.append(time.perf_counter() - started)
        batch_cpu.append(time.process_time() - cpu)
    rss_batch = _peak_rss_mib()

    rows = ops.tolist()
    call_times, call_cpu = [], []
    for _ in range(args.repeat):
        per_call = OrderBook(config, capacity=args.ops)
        started, cpu = time.perf_counter(), time.process_time()
        results = _per_call(per_call, rows)
        call_times.append(time.perf_counter() - started)
        call_cpu.append(time.process_time() - cpu)
    same = (
        len(results.fills) == len(batch.fills)
        and bool((results.fills == batch.fills).all())
        and bool((results.outcome == batch.outcome).all())
    )
    kinds = np.bincount(ops["kind"], minlength=4)
    print(
        json.dumps(
            {
                "benchmark": "order_book",
                "ops": args.ops,
                "mix": dict(
                    zip(("limit", "market", "cancel", "modify"), kinds.tolist(), strict=True)
                ),
                "fills": len(batch.fills),
                "no_op_cancels_or_modifies": int((batch.reason != 0).sum()),
                "same_fills_and_outcomes": same,
                "batch_ops_per_s": round(args.ops / min(batch_times)),
                "batch_seconds_all": [round(t, 3) for t in batch_times],
                "batch_ops_per_cpu_s": round(args.ops / min(batch_cpu)),
                "per_call_ops_per_s": round(args.ops / min(call_times)),
                "per_call_seconds_all": [round(t, 3) for t in call_times],
                "per_call_ops_per_cpu_s": round(args.ops / min(call_cpu)),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "peak_rss_mib_after_batch": round(rss_batch),
                "peak_rss_mib": round(_peak_rss_mib()),
            }
        )
    )


if __name__ == "__main__":
    main()
