"""The spine's alpha model: walk-forward LightGBM, registered and promoted like every family."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from quant_assets.defs.research.training import (
    TrainingConfig,
    engine_config,
    probe_check,
    train_and_register,
)
from quant_assets.pod_resources import LIGHTGBM_POD
from quant_assets.resources import MlflowResource
from quant_engine.data.store import DayFrameStore


class AlphaModelConfig(TrainingConfig):
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    seed: int = 0


@dg.asset(
    group_name="research",
    kinds={"lightgbm", "mlflow"},
    check_specs=[probe_check("alpha_model")],
    op_tags=LIGHTGBM_POD.op_tags(),
)
def alpha_model(
    context: dg.AssetExecutionContext,
    config: AlphaModelConfig,
    features: DayFrameStore,
    raw_bars: pl.DataFrame,
    mlflow: MlflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Walk-forward LightGBM, tracked in MLflow and registered as the challenger.

    Returns the out-of-sample scores. The blocking ``shifted_label_probe`` check stops the
    ``champion`` asset downstream (which decides on promotion) when the model leaks.
    """
    from quant_engine.models.lightgbm_model import LightGBMConfig, LightGBMModel

    lgbm = engine_config(LightGBMConfig, config)
    yield from train_and_register(
        context, "lightgbm", lambda: LightGBMModel(lgbm), lgbm, config, features, raw_bars, mlflow
    )
