"""One MLflow model format for every family: a pyfunc that scores feature frames.

The input is a frame of (symbol, timestamp, feature columns); sequence models read each row's
history from the earlier rows of the same frame, so pass enough of it.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl

from quant_engine.models.base import AlphaModel
from quant_engine.models.panel import Panel


class AlphaPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a fitted :class:`AlphaModel` and the feature names it was trained on."""

    def __init__(self, model: AlphaModel, feature_names: list[str]) -> None:
        self.model = model
        self.feature_names = feature_names

    @property
    def history_rows(self) -> int:
        """Rows of a symbol up to a day that the day's score reads: a sequence model's window,
        1 for a model that scores each row alone (one without ``history_rows``)."""
        return int(getattr(self.model, "history_rows", 1))

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        """Scores for the rows of ``frame``, in its order."""
        ordered = frame.with_row_index("_order").sort("symbol", "timestamp")
        panel = Panel.from_frame(ordered, self.feature_names)
        scores = self.model.predict(panel, np.arange(ordered.height))
        result = np.empty(ordered.height)
        result[ordered["_order"].to_numpy()] = scores
        return result

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        """MLflow's entry point: a pandas frame with naive-UTC (or aware) timestamps."""
        frame = pl.from_pandas(model_input)
        if frame["timestamp"].dtype == pl.String:
            frame = frame.with_columns(pl.col("timestamp").str.to_datetime())
        return self.score(frame)
