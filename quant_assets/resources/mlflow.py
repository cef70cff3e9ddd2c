"""MLflow tracking and the model registry: a thin resource over MLflow's client and fluent API."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

from quant_assets.profile import DeploymentProfile
from quant_engine.paths import QuantHome

if TYPE_CHECKING:  # MLflow (and the models it loads: torch) is imported when first used
    import mlflow
    from matplotlib.figure import Figure
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from quant_engine.models.packaging import AlphaPyfunc

PREDICTIONS = "oos_predictions.parquet"
# The user's setting, read before anything in this process calls mlflow.set_tracking_uri,
# which writes MLFLOW_TRACKING_URI itself (so later values are not configuration).
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")


def _mlflow():
    """The ``mlflow`` module with the submodules this resource uses, imported on first use."""
    import mlflow
    import mlflow.artifacts
    import mlflow.data
    import mlflow.pyfunc

    return mlflow


_CREATED: set[str] = set()


def _create_store(uri: str, artifact_root: str) -> None:
    """Create the profile's tracking store (once per process) with its artifact root, so that
    MLflow's own "Default" experiment keeps artifacts there too, not in ``./mlruns`` of
    whatever directory first opened the store."""
    if uri not in _CREATED:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(uri, artifact_root)
        _CREATED.add(uri)


class MlflowResource(dg.ConfigurableResource):
    """One experiment per pipeline; runs tagged with the Dagster run id and partition.

    Each retrain registers a version of ``registered_model_name`` under the ``challenger``
    alias; the one that scores signals carries the ``champion`` alias.
    """

    tracking_uri: str = ""  # default: $MLFLOW_TRACKING_URI at start-up, else the profile's store
    experiment_name: str = "quant-alpha"
    registered_model_name: str = "quant_alpha"

    def configured_uri(self) -> str:
        """The tracking URI this resource uses, without opening or creating its store."""
        return (
            self.tracking_uri
            or USER_TRACKING_URI
            or DeploymentProfile.from_env().mlflow_tracking_uri
        )

    def uri(self) -> str:
        """The tracking URI, with the profile's store created (once per process) first."""
        if self.tracking_uri or USER_TRACKING_URI:
            return self.tracking_uri or USER_TRACKING_URI
        profile = DeploymentProfile.from_env()
        if profile.name == "local":  # SQLite creates the file, not its folder
            profile.home.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
        _create_store(profile.mlflow_tracking_uri, profile.mlflow_artifact_root)
        return profile.mlflow_tracking_uri

    def client(self) -> MlflowClient:
        from mlflow.tracking import MlflowClient

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
        _mlflow().set_tracking_uri(self.uri())
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset": context.asset_key.to_user_string(),
            "dagster.partition": context.partition_key if context.has_partition_key else "",
        }
        with _mlflow().start_run(
            experiment_id=self.experiment_id(), run_name=run_name, tags=tags, nested=nested
        ) as run:
            yield run

    @staticmethod
    def log_params(params: dict[str, Any]) -> None:
        """Log params to the active run."""
        _mlflow().log_params(params)

    @staticmethod
    def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
        """Log the finite metrics to the active run."""
        _mlflow().log_metrics({k: float(v) for k, v in metrics.items() if v == v}, step=step)

    def metric_by_config(self, metric: str) -> dict[str, float]:
        """The latest value of ``metric`` per training configuration (param ``config_hash``;
        a run without one counts as its own configuration) over the experiment's runs."""
        runs = self.client().search_runs(
            [self.experiment_id()],
            filter_string=f"metrics.`{metric}` > -1e300",
            max_results=5000,
            order_by=["attributes.start_time ASC"],
        )
        return {
            run.data.params.get("config_hash", run.info.run_id): run.data.metrics[metric]
            for run in runs
        }

    @staticmethod
    def log_training_data(features: pl.DataFrame, names: list[str]) -> None:
        """Log the training frame as the active run's MLflow dataset (schema, digest, profile)."""
        from quant_engine.features import LABEL

        with warnings.catch_warnings():  # MLflow registers two sources for local paths
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
            dataset = _mlflow().data.from_polars(
                features.select("symbol", "timestamp", *names, LABEL),
                source=(QuantHome.resolve().assets / "features.parquet").as_uri(),
                targets=LABEL,
                name="features",
            )
        try:
            _mlflow().log_input(dataset, context="training")
        except _mlflow().exceptions.MlflowException as error:
            # Runs training side by side log the same dataset: MLflow's get-or-create of it
            # races on a SQL store, and the loser's insert breaks the unique key. The dataset
            # now exists, so linking it again succeeds.
            if "UNIQUE constraint failed" not in str(error) and "duplicate key" not in str(error):
                raise
            _mlflow().log_input(dataset, context="training")

    @staticmethod
    def log_table(table: pl.DataFrame, name: str) -> None:
        """Log a table artifact (MLflow's table view) to the active run."""
        _mlflow().log_table(data=table.to_pandas(), artifact_file=name)

    @staticmethod
    def log_figure(figure: Figure, name: str) -> None:
        _mlflow().log_figure(figure, name)

    @staticmethod
    def log_predictions(predictions: pl.DataFrame) -> None:
        """Store out-of-sample predictions with the active run (for fair comparisons later)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / PREDICTIONS
            predictions.write_parquet(path)
            _mlflow().log_artifact(str(path))

    def log_alpha_model(
        self,
        pyfunc: AlphaPyfunc,
        example: pl.DataFrame,
        family: str,
        dagster_run_id: str = "",
        description: str = "",
    ) -> str:
        """Log and register the model as the new ``challenger``; returns its version URI.

        The version is tagged with its family and the Dagster run that trained it (the
        ``champion`` asset compares the versions of its own run) and described."""
        from mlflow.models import infer_signature

        # MLflow schemas take naive datetimes: the example's timestamps are naive UTC.
        example = example.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
        pandas_example = example.to_pandas()
        info = _mlflow().pyfunc.log_model(
            name="model",
            python_model=pyfunc,
            signature=infer_signature(pandas_example, pyfunc.score(example)),
            input_example=pandas_example,
            registered_model_name=self.registered_model_name,
        )
        version = str(info.registered_model_version)
        client = self.client()
        client.set_model_version_tag(self.registered_model_name, version, "family", family)
        if dagster_run_id:
            client.set_model_version_tag(
                self.registered_model_name, version, "dagster.run_id", dagster_run_id
            )
        if description:
            client.update_model_version(self.registered_model_name, version, description)
        client.set_registered_model_alias(self.registered_model_name, "challenger", version)
        return self.version_uri(version)

    def tag_version(self, model_uri: str, key: str, value: str) -> None:
        """Tag the registered version ``models:/<name>/<version>``."""
        name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
        self.client().set_model_version_tag(name, version, key, value)

    def versions_of_dagster_run(self, dagster_run_id: str) -> list[ModelVersion]:
        """The versions registered by one Dagster run, oldest first."""
        versions = self.client().search_model_versions(f"name = '{self.registered_model_name}'")
        ours = [v for v in versions if v.tags.get("dagster.run_id") == dagster_run_id]
        return sorted(ours, key=lambda v: int(v.version))

    def version_uri(self, version: str) -> str:
        return f"models:/{self.registered_model_name}/{version}"

    def champion(self) -> ModelVersion | None:
        """The version under the ``champion`` alias, if any."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.registered_model_name, "champion")
        except MlflowException:
            return None

    def promote(self, version: str) -> None:
        self.client().set_registered_model_alias(self.registered_model_name, "champion", version)

    def predictions_of(self, version: ModelVersion) -> pl.DataFrame:
        """The out-of-sample predictions logged by the run behind ``version``."""
        _mlflow().set_tracking_uri(self.uri())
        with tempfile.TemporaryDirectory() as tmp:
            path = _mlflow().artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=PREDICTIONS, dst_path=tmp
            )
            return pl.read_parquet(path)

    def load_model(self, model_uri: str) -> AlphaPyfunc:
        """Load a registered model's :class:`AlphaPyfunc`."""
        _mlflow().set_tracking_uri(self.uri())
        return _mlflow().pyfunc.load_model(model_uri).unwrap_python_model()

    def model_run_id(self, model_uri: str) -> str:
        """The MLflow run that logged the registered version ``models:/<name>/<version>``."""
        name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
        return self.client().get_model_version(name, version).run_id
