"""Benchmark: every model family, walk-forward on the default synthetic market.

Issue 3 targets: every family reaches a positive out-of-sample rank IC, and LightGBM on the
factor set reaches at least 70% of the oracle IC.
Run: ``.venv/bin/python bench/model_families.py [--symbols 50] [--days 2016]``
Prints a markdown table and writes the rows as JSON to ``--out`` (default: stdout only).
"""

from __future__ import annotations

import argparse
import json
import time

from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.features import (
    FactorSetConfig,
    add_forward_return_label,
    build_factor_sets,
    feature_names,
)
from quant_engine.models import (
    LightGBMModel,
    NeuralConfig,
    NeuralModel,
    RidgeModel,
    WalkForwardConfig,
    run_walk_forward,
)

SPLITS = WalkForwardConfig(min_train_days=504, retrain_every=252, valid_days=63)
NETWORK = {"hidden": 32, "layers": 1, "lookback": 20, "epochs": 8, "patience": 2, "heads": 4}
RUNS = [
    ("ridge", "basic", RidgeModel),
    ("lightgbm", "basic", LightGBMModel),
    ("lightgbm", "basic+alpha158 (z-scored)", LightGBMModel),
    *[
        (name, "basic", lambda name=name: NeuralModel(NeuralConfig(architecture=name, **NETWORK)))
        for name in ("mlp", "lstm", "tcn", "transformer")
    ],
]
FACTORS = {
    "basic": FactorSetConfig(),
    "basic+alpha158 (z-scored)": FactorSetConfig(("basic", "alpha158"), "zscore"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=2016)
    parser.add_argument("--out", default="")
    parser.add_argument("--families", nargs="*", help="only these families (default: all)")
    args = parser.parse_args()
    market = generate_market(SyntheticMarketConfig(n_symbols=args.symbols, n_days=args.days))
    frames = {
        name: add_forward_return_label(build_factor_sets(market.bars, cfg), market.bars)
        for name, cfg in FACTORS.items()
    }
    rows = []
    for family, factors, factory in RUNS:
        if args.families and family not in args.families:
            continue
        frame = frames[factors]
        started = time.perf_counter()
        result = run_walk_forward(frame, feature_names(frame), factory, SPLITS)
        rows.append(
            {
                "family": family,
                "factors": factors,
                "ic": round(result.summary["ic"], 4),
                "rank_ic": round(result.summary["rank_ic"], 4),
                "icir": round(result.summary["icir"], 3),
                "share_of_oracle_ic": round(result.summary["ic"] / market.oracle_ic, 3),
                "folds": len(result.folds),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\noracle IC {market.oracle_ic:.4f} ({args.symbols} symbols x {args.days} days)\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"oracle_ic": market.oracle_ic, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
