"""MLflow tracking: a thin resource over the MLflow client and fluent API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import mlflow
import mlflow.lightgbm
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from quant_engine.paths import QuantHome


class MlflowResource(dg.ConfigurableResource):
    """One experiment per pipeline; runs tagged with the Dagster run id and partition."""

    tracking_uri: str = ""  # default: $MLFLOW_TRACKING_URI, else SQLite under QUANT_HOME
    experiment_name: str = "quant-alpha"
    registered_model_name: str = "quant_alpha_lightgbm"

    def uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or self._local_uri()

    @staticmethod
    def _local_uri() -> str:
        home = QuantHome.resolve()
        home.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
        return home.mlflow_tracking_uri

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri())

    def experiment_id(self) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifacts = None
        if self.uri().startswith("sqlite:"):
            artifacts = QuantHome.resolve().mlflow_artifacts.as_uri()
        return client.create_experiment(self.experiment_name, artifact_location=artifacts)

    @contextmanager
    def start_run(
        self, context: dg.AssetExecutionContext, run_name: str
    ) -> Iterator[mlflow.ActiveRun]:
        """Start a run in the pipeline's experiment, tagged with Dagster's run and partition."""
        mlflow.set_tracking_uri(self.uri())
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset": context.asset_key.to_user_string(),
            "dagster.partition": context.partition_key if context.has_partition_key else "",
        }
        with mlflow.start_run(
            experiment_id=self.experiment_id(), run_name=run_name, tags=tags
        ) as run:
            yield run

    @staticmethod
    def log_params(params: dict[str, Any]) -> None:
        """Log params to the active run."""
        mlflow.log_params(params)

    @staticmethod
    def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
        """Log the finite metrics to the active run."""
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v}, step=step)

    @staticmethod
    def log_artifact(path: str) -> None:
        mlflow.log_artifact(path)

    def log_lightgbm_model(self, booster: Any, example: pd.DataFrame) -> str:
        """Log ``booster`` with its signature to the active run, register it, return its URI."""
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=infer_signature(example, booster.predict(example)),
            input_example=example,
            registered_model_name=self.registered_model_name,
        )
        return f"models:/{self.registered_model_name}/{info.registered_model_version}"

    def load_model(self, model_uri: str) -> Any:
        """Load a registered model as an MLflow pyfunc model."""
        mlflow.set_tracking_uri(self.uri())
        return mlflow.pyfunc.load_model(model_uri)

    def model_run_id(self, model_uri: str) -> str:
        """The MLflow run that logged the registered version ``models:/<name>/<version>``."""
        name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
        return self.client().get_model_version(name, version).run_id
