import mlflow

from quant_assets.resources import MlflowResource
from quant_engine.paths import QuantHome


def test_tracking_follows_quant_home_even_after_mlflow_rewrote_the_env(quant_home, tmp_path):
    # mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI; that must not pin later homes.
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert MlflowResource().uri() == QuantHome.resolve().mlflow_tracking_uri
    assert str(quant_home) in MlflowResource().uri()
    assert MlflowResource(tracking_uri="http://127.0.0.1:5000").uri() == "http://127.0.0.1:5000"
