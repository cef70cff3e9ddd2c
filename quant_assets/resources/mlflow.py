"""MLflow tracking and the model registry: a thin resource over MLflow's client and fluent API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import mlflow.pyfunc
import polars as pl
from matplotlib.figure import Figure
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from quant_assets.profile import DeploymentProfile
from quant_engine.models.packaging import AlphaPyfunc

PREDICTIONS = "oos_predictions.parquet"
# The user's setting, read before anything in this process calls mlflow.set_tracking_uri,
# which writes MLFLOW_TRACKING_URI itself (so later values are not configuration).
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")


class MlflowResource(dg.ConfigurableResource):
    """One experiment per pipeline; runs tagged with the Dagster run id and partition.

    Each retrain registers a version of ``registered_model_name`` under the ``challenger``
    alias; the one that scores signals carries the ``champion`` alias.
    """

    tracking_uri: str = ""  # default: $MLFLOW_TRACKING_URI at start-up, else the profile's store
    experiment_name: str = "quant-alpha"
    registered_model_name: str = "quant_alpha"

    def uri(self) -> str:
        if self.tracking_uri or USER_TRACKING_URI:
            return self.tracking_uri or USER_TRACKING_URI
        profile = DeploymentProfile.from_env()
        if profile.name == "local":  # SQLite creates the file, not its folder
            profile.home.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
        return profile.mlflow_tracking_uri

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri())

    def experiment_id(self) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifacts = None  # a tracking server keeps artifacts where it is configured to
        if not self.uri().startswith(("http:", "https:", "databricks")):
            artifacts = DeploymentProfile.from_env().mlflow_artifact_root
        return client.create_experiment(self.experiment_name, artifact_location=artifacts)

    @contextmanager
    def start_run(
        self, context: dg.AssetExecutionContext, run_name: str, nested: bool = False
    ) -> Iterator[mlflow.ActiveRun]:
        """Start a run (or a child of the active one) tagged with Dagster's run and partition."""
        mlflow.set_tracking_uri(self.uri())
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset": context.asset_key.to_user_string(),
            "dagster.partition": context.partition_key if context.has_partition_key else "",
        }
        with mlflow.start_run(
            experiment_id=self.experiment_id(), run_name=run_name, tags=tags, nested=nested
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

    def metric_across_runs(self, metric: str) -> list[float]:
        """The latest value of ``metric`` in every run of the experiment that logged it."""
        runs = self.client().search_runs(
            [self.experiment_id()], filter_string=f"metrics.`{metric}` > -1e300", max_results=5000
        )
        return [run.data.metrics[metric] for run in runs]

    @staticmethod
    def log_figure(figure: Figure, name: str) -> None:
        mlflow.log_figure(figure, name)

    @staticmethod
    def log_predictions(predictions: pl.DataFrame) -> None:
        """Store out-of-sample predictions with the active run (for fair comparisons later)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / PREDICTIONS
            predictions.write_parquet(path)
            mlflow.log_artifact(str(path))

    def log_alpha_model(self, pyfunc: AlphaPyfunc, example: pl.DataFrame, family: str) -> str:
        """Log and register the model as the new ``challenger``; returns its version URI."""
        # MLflow schemas take naive datetimes: the example's timestamps are naive UTC.
        example = example.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
        pandas_example = example.to_pandas()
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc,
            signature=infer_signature(pandas_example, pyfunc.score(example)),
            input_example=pandas_example,
            registered_model_name=self.registered_model_name,
        )
        version = str(info.registered_model_version)
        client = self.client()
        client.set_model_version_tag(self.registered_model_name, version, "family", family)
        client.set_registered_model_alias(self.registered_model_name, "challenger", version)
        return self.version_uri(version)

    def version_uri(self, version: str) -> str:
        return f"models:/{self.registered_model_name}/{version}"

    def champion(self) -> ModelVersion | None:
        """The version under the ``champion`` alias, if any."""
        try:
            return self.client().get_model_version_by_alias(self.registered_model_name, "champion")
        except MlflowException:
            return None

    def promote(self, version: str) -> None:
        self.client().set_registered_model_alias(self.registered_model_name, "champion", version)

    def predictions_of(self, version: ModelVersion) -> pl.DataFrame:
        """The out-of-sample predictions logged by the run behind ``version``."""
        mlflow.set_tracking_uri(self.uri())
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=PREDICTIONS, dst_path=tmp
            )
            return pl.read_parquet(path)

    def load_model(self, model_uri: str) -> AlphaPyfunc:
        """Load a registered model's :class:`AlphaPyfunc`."""
        mlflow.set_tracking_uri(self.uri())
        return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()

    def model_run_id(self, model_uri: str) -> str:
        """The MLflow run that logged the registered version ``models:/<name>/<version>``."""
        name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
        return self.client().get_model_version(name, version).run_id
