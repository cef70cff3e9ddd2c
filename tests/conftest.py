"""Shared fixtures: small synthetic markets and a materialized pipeline in a temporary home."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from quant_engine.data import SyntheticMarket, SyntheticMarketConfig, generate_market
from quant_engine.features import add_forward_return_label, build_features

# Tests ingest days of their own markets and files (2024 and later): raw_bars' partitions stay
# open-ended here, as for a live source (the demo's default ends with the synthetic market).
os.environ.setdefault("QUANT_LAST_BAR_DAY", "today")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"

# A universe small enough for quick tests, long enough for a few walk-forward folds; its
# planted signal is stronger than the default so that the short history still shows it.
SMALL_MARKET = {"n_symbols": 24, "n_days": 700, "seed": 11, "signal_strength": 0.1}
SMALL_RUN_CONFIG = {
    "ops": {"alpha_model": {"config": {"min_train_days": 250, "retrain_every": 90}}},
}


@pytest.fixture(scope="session")
def small_market() -> SyntheticMarket:
    return generate_market(SyntheticMarketConfig(**SMALL_MARKET))


@pytest.fixture(scope="session")
def dataset(small_market: SyntheticMarket):
    """The small market's basic features with the forward-return label."""
    return add_forward_return_label(build_features(small_market.bars), small_market.bars)


@pytest.fixture
def quant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty QUANT_HOME for one test (MLflow pointed into it as well)."""
    home = tmp_path / "quant_home"
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


def spine_assets(definitions: dg.Definitions, exclude: tuple[str, ...] = ()) -> list:
    """The pipeline's assets (not the model zoo nor live trading), less any in ``exclude``."""
    return [
        asset
        for asset in definitions.assets
        if not {"model_zoo", "live"} & set(asset.group_names_by_key.values())
        and asset.key.to_user_string() not in exclude
    ]


def materialize_pipeline(
    home: Path,
    instance: dg.DagsterInstance | None = None,
    features_config: dict | None = None,
    training: dict | None = None,
    **market: object,
) -> dg.ExecuteInProcessResult:
    """Materialize the whole graph in-process into ``home`` on a small synthetic market
    (in ``instance``, by default an ephemeral one; ``features_config`` for the features,
    ``training`` for alpha_model's walk-forward instead of the small run's)."""
    from quant_assets.definitions import defs
    from quant_assets.defs.market_data.history import seed_history
    from quant_assets.resources import MarketDataResource

    market_data = MarketDataResource(**{**SMALL_MARKET, **market})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        definitions = defs()
        last_day = seed_history(market_data)  # as `quant demo`: the history, then the last day
        return dg.materialize(
            spine_assets(definitions),
            resources={**definitions.resources, "market_data": market_data},
            run_config={
                "ops": {
                    **SMALL_RUN_CONFIG["ops"],
                    **({"alpha_model": {"config": training}} if training else {}),
                    "features": {"config": features_config or {}},
                }
            },
            instance=instance or dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            partition_key=last_day.isoformat(),
        )


@pytest.fixture(scope="session")
def materialized(tmp_path_factory: pytest.TempPathFactory):
    """(home, result) of one full materialization shared by the pipeline tests."""
    home = tmp_path_factory.mktemp("materialized") / "quant_home"
    result = materialize_pipeline(home)
    assert result.success, "the pipeline failed to materialize"
    return home, result


@pytest.fixture(scope="session")
def materialized_home(materialized) -> Path:
    """A QUANT_HOME holding a fully materialized small pipeline."""
    return materialized[0]


ZOO_SELECTION = {"raw_bars", "features", "alpha_model", "alpha_ridge", "alpha_lstm", "champion"}
ZOO_SPLITS = {"min_train_days": 250, "retrain_every": 225, "valid_days": 40}


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory):
    """(home, result) of LightGBM, ridge and LSTM trained side by side on the small market."""
    from quant_assets.definitions import defs
    from quant_assets.defs.market_data.history import seed_history
    from quant_assets.resources import MarketDataResource
    from quant_engine.paths import QuantHome

    home = tmp_path_factory.mktemp("zoo") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        definitions = defs()
        last_day = seed_history(MarketDataResource(**SMALL_MARKET))
        result = dg.materialize(
            [a for a in definitions.assets if a.key.to_user_string() in ZOO_SELECTION],
            resources={**definitions.resources, "market_data": MarketDataResource(**SMALL_MARKET)},
            run_config={
                "ops": {
                    "alpha_model": {"config": ZOO_SPLITS},
                    "alpha_ridge": {"config": ZOO_SPLITS},
                    "alpha_lstm": {"config": {**ZOO_SPLITS, "epochs": 3}},
                }
            },
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            partition_key=last_day.isoformat(),
        )
    assert result.success, "the model zoo failed to materialize"
    return QuantHome(home), result
