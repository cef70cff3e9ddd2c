"""``quant train --family NAME``: train one model family and decide on its promotion.

Runs the family's asset and ``champion`` in the persistent Dagster instance (a run like any
launched from the UI), reading the stored features and bars: materialize them first
(``quant demo``).
"""

from __future__ import annotations

import argparse
import sys

FAMILY_ASSETS = {
    "lightgbm": "alpha_model",
    "ridge": "alpha_ridge",
    "mlp": "alpha_mlp",
    "lstm": "alpha_lstm",
    "tcn": "alpha_tcn",
    "transformer": "alpha_transformer",
}


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """Register ``quant train`` on the ``quant`` parser's subcommands."""
    train = commands.add_parser("train", help="train one model family, then decide its promotion")
    train.add_argument("--family", required=True, choices=sorted(FAMILY_ASSETS))


def train(args: argparse.Namespace) -> int:
    """Materialize the family's asset and ``champion``; print the decision."""
    from quant_assets.cli import prepare_home

    home = prepare_home()
    import dagster as dg

    from quant_assets.definitions import defs

    if not (home.assets / "features.parquet").exists():  # one file per day
        print(
            f"quant train: no features under {home.assets}: run `quant demo` first", file=sys.stderr
        )
        return 2
    definitions = defs()
    asset = FAMILY_ASSETS[args.family]
    with dg.DagsterInstance.get() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(asset), dg.AssetKey("champion")],
            tags={"quant/workload": "training"},
            raise_on_error=False,
        )
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        if event.materialization.asset_key.to_user_string() == "champion":
            print(f"champion: {meta['champion']} ({meta['champion_family']}): {meta['reason']}")
        else:
            print(f"{asset}: {meta['model_version']} rank IC {meta['model_rank_ic']:.4f}")
    if not result.success:
        print(f"quant train: run {result.run_id} failed: see it in `quant ui`", file=sys.stderr)
        return 1
    return 0
