import mlflow

from quant_assets.resources import MlflowResource
from quant_engine.paths import QuantHome


def test_tracking_follows_quant_home_even_after_mlflow_rewrote_the_env(quant_home, tmp_path):
    # mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI; that must not pin later homes.
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert MlflowResource().uri() == QuantHome.resolve().mlflow_tracking_uri
    assert str(quant_home) in MlflowResource().uri()
    assert MlflowResource(tracking_uri="http://127.0.0.1:5000").uri() == "http://127.0.0.1:5000"


def test_the_default_experiment_keeps_its_artifacts_in_quant_home(
    quant_home, tmp_path, monkeypatch
):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)  # MLflow's own default would be ./mlruns here
    resource = MlflowResource()
    resource.experiment_id()
    default = resource.client().get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location.startswith(QuantHome.resolve().mlflow_artifacts.as_uri())
    assert list(checkout.iterdir()) == []
