"""Every model family learns the planted signal out of sample, and repeats itself exactly."""

import pytest

from quant_engine.features import feature_columns
from quant_engine.models import (
    LightGBMConfig,
    LightGBMModel,
    NeuralConfig,
    NeuralModel,
    RidgeModel,
    WalkForwardConfig,
    run_walk_forward,
)

SPLITS = WalkForwardConfig(min_train_days=250, retrain_every=225, valid_days=40)
SMALL_NET = {"hidden": 16, "layers": 1, "lookback": 10, "epochs": 4, "heads": 2}

FAMILIES = {
    "ridge": RidgeModel,
    "lightgbm": lambda: LightGBMModel(LightGBMConfig(n_estimators=80)),
    **{
        name: (lambda name=name: NeuralModel(NeuralConfig(architecture=name, **SMALL_NET)))
        for name in ("mlp", "lstm", "tcn", "transformer")
    },
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_learns_out_of_sample_and_is_deterministic(dataset, family):
    first = run_walk_forward(dataset, feature_columns(), FAMILIES[family], SPLITS)
    assert first.summary["rank_ic"] > 0.02, first.summary
    again = run_walk_forward(dataset, feature_columns(), FAMILIES[family], SPLITS)
    assert again.predictions.equals(first.predictions)


def test_neural_training_stops_early_on_the_validation_slice(dataset):
    models = []

    def patient_lstm():
        config = NeuralConfig(
            architecture="lstm",
            epochs=40,
            patience=1,
            **{k: v for k, v in SMALL_NET.items() if k != "epochs"},
        )
        models.append(NeuralModel(config))
        return models[-1]

    run_walk_forward(dataset, feature_columns(), patient_lstm, SPLITS)
    assert all(model.epochs_trained < 40 for model in models)


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture 'gru'"):
        NeuralConfig(architecture="gru")
