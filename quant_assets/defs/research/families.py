"""One asset per further model family, each materializable alone from the UI.

They train on the same features with the same walk-forward (``TrainingConfig``'s defaults unless
a run's config says otherwise), log the same metrics, and compete for the ``champion`` alias
with the spine's LightGBM model in the ``champion`` asset.
"""

from collections.abc import Callable, Iterator

import dagster as dg
import polars as pl

from quant_assets.defs.research.training import (
    TrainingConfig,
    engine_config,
    probe_check,
    train_and_register,
)
from quant_assets.pod_resources import NEURAL_POD, RIDGE_POD
from quant_assets.resources import MlflowResource
from quant_engine.data.store import DayFrameStore


class RidgeAssetConfig(TrainingConfig):
    alpha: float = 10.0


class NeuralAssetConfig(TrainingConfig):
    valid_days: int = 63
    lookback: int = 20
    hidden: int = 32
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    epochs: int = 8
    patience: int = 2
    learning_rate: float = 1e-3
    seed: int = 0


def _family_asset(name: str, family: str, build: Callable) -> dg.AssetsDefinition:
    config_type = RidgeAssetConfig if family == "ridge" else NeuralAssetConfig

    @dg.asset(
        name=name,
        group_name="model_zoo",
        kinds={"pytorch" if family != "ridge" else "numpy", "mlflow"},
        check_specs=[probe_check(name)],
        description=f"Walk-forward {family} alpha model, registered and promoted like alpha_model.",
        op_tags=(RIDGE_POD if family == "ridge" else NEURAL_POD).op_tags(),
    )
    def family_model(
        context: dg.AssetExecutionContext,
        config: config_type,  # type: ignore[valid-type]
        features: DayFrameStore,
        raw_bars: pl.DataFrame,
        mlflow: MlflowResource,
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        model_config, factory = build(config)
        yield from train_and_register(
            context, family, factory, model_config, config, features, raw_bars, mlflow
        )

    return family_model


def _ridge(config: RidgeAssetConfig):
    from quant_engine.models.linear import RidgeConfig, RidgeModel

    ridge = engine_config(RidgeConfig, config)
    return ridge, lambda: RidgeModel(ridge)


def _neural(architecture: str):
    def build(config: NeuralAssetConfig):
        from quant_engine.models.neural import NeuralConfig, NeuralModel

        neural = engine_config(NeuralConfig, config, architecture=architecture)
        return neural, lambda: NeuralModel(neural)

    return build


alpha_ridge = _family_asset("alpha_ridge", "ridge", _ridge)
alpha_mlp = _family_asset("alpha_mlp", "mlp", _neural("mlp"))
alpha_lstm = _family_asset("alpha_lstm", "lstm", _neural("lstm"))
alpha_tcn = _family_asset("alpha_tcn", "tcn", _neural("tcn"))
alpha_transformer = _family_asset("alpha_transformer", "transformer", _neural("transformer"))
