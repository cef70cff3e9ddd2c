"""The code location's entry point: everything under ``quant_assets/defs``, each asset with a
link to its source and an owner by group."""

import warnings
from pathlib import Path

import dagster as dg

OWNERS = {
    "market_data": "team:data",
    "research": "team:research",
    "model_zoo": "team:research",
    "signals": "team:research",
    "backtest": "team:research",
    "execution": "team:trading",
    "live": "team:trading",
}


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.owners or spec.group_name not in OWNERS:
        return spec
    return spec.replace_attributes(owners=[OWNERS[spec.group_name]])


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # Code references and spec mapping are beta/preview APIs: used knowingly, not warned about
    # on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _linked_and_owned(loaded)


def _linked_and_owned(loaded: dg.Definitions) -> dg.Definitions:
    linked = dg.Definitions(
        assets=dg.with_source_code_references(list(loaded.assets or [])),
        asset_checks=loaded.asset_checks,
        jobs=loaded.jobs,
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        resources=loaded.resources,
        executor=loaded.executor,
        loggers=loaded.loggers,
        metadata=loaded.metadata,
    )
    return linked.map_asset_specs(func=_owned)
