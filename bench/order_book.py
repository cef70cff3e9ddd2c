"""Benchmark: the order book on a seeded stream of mixed limit/cancel/market/modify operations.

Target (issue 7): at least 2 million operations per second on 1 million operations.
Run: ``.venv/bin/python bench/order_book.py [--ops 1000000] [--seed 0] [--repeat 3]``
Prints one JSON line: ops/s of the batch core (numba) and of the per-call Python API (best of
``--repeat``, by wall clock and by process CPU time, which a loaded machine distorts less),
whether both produced the same fills, the load average, and peak RSS after each phase.
Compilation is excluded (the kernel is compiled and cached on a small warm-up stream first).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

from quant_engine.orderbook import ArrayOrderBook, OrderBook, OrderBookConfig
from quant_engine.orderbook.streams import StreamConfig, as_op_rows, random_ops


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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

    rows = as_op_rows(ops)
    call_times, call_cpu = [], []
    for _ in range(args.repeat):
        per_call = OrderBook(config)
        apply = per_call.apply
        started, cpu = time.perf_counter(), time.process_time()
        results = [apply(op) for op in rows]
        call_times.append(time.perf_counter() - started)
        call_cpu.append(time.process_time() - cpu)
    fills = [(f.taker_id, f.maker_id, f.price, f.qty) for r in results for f in r.fills]
    batch_fills = list(
        zip(
            *(batch.fills[c].tolist() for c in ("taker_id", "maker_id", "price", "qty")),
            strict=True,
        )
    )
    reasons = np.array([int(r.reason) for r in results])
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
                "same_fills_and_reasons": fills == batch_fills
                and bool((reasons == batch.reason).all()),
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
