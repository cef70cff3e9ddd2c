"""The training label: what a signal made after the close of day t earns when traded at t+1."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_engine.data.schema import KEYS

LABEL = "label"
LABEL_HORIZON = "label_horizon"  # travels with the label so training can embargo correctly


@dataclass(frozen=True)
class LabelConfig:
    """Forward return from the open of t+1 to the open of t+1+horizon."""

    horizon: int = 1

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("label horizon must be at least 1 bar")


def add_forward_return_label(
    frame: pl.DataFrame, bars: pl.DataFrame, config: LabelConfig | None = None
) -> pl.DataFrame:
    """Join the forward-return label onto ``frame`` (keyed by symbol, timestamp).

    The label of day ``t`` is ``open[t+1+h] / open[t+1] - 1``: the return of a position
    entered at the next open and held ``h`` bars. It is null where the future is not known yet.
    The horizon ``h`` is kept beside it in the ``label_horizon`` column. ``bars`` must hold
    each (symbol, timestamp) once.
    """
    cfg = config or LabelConfig()
    entry = pl.col("open").shift(-1).over("symbol")
    exit_ = pl.col("open").shift(-1 - cfg.horizon).over("symbol")
    labels = (
        bars.lazy()
        .sort("symbol", "timestamp")
        .select(
            "symbol",
            "timestamp",
            (exit_ / entry - 1.0).alias(LABEL),
            pl.lit(cfg.horizon, dtype=pl.Int32).alias(LABEL_HORIZON),
        )
    )
    # Joined on the keys alone, then set beside the frame: its columns are not copied.
    joined = frame.select(KEYS).lazy().join(labels, on=KEYS, how="left", maintain_order="left")
    return frame.with_columns(joined.select(LABEL, LABEL_HORIZON).collect())
