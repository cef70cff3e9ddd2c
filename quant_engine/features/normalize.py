"""Cross-sectional normalization: each day's values compared only with the same day's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

Method = Literal["none", "zscore", "rank"]


def cross_sectional(
    frame: pl.DataFrame, columns: Sequence[str], method: Method, clip: float = 5.0
) -> pl.DataFrame:
    """Normalize ``columns`` per timestamp: z-score (clipped at +-``clip``) or rank in (0, 1].

    Computed in float64; each column keeps its own float type. Uses no other day's data, so it
    cannot leak the future into the past.
    """
    if method == "none":
        return frame
    if method == "zscore":
        values = [pl.col(c).cast(pl.Float64) for c in columns]
        exprs = [((x - x.mean()) / x.std()).clip(-clip, clip).over("timestamp") for x in values]
    elif method == "rank":
        exprs = [(pl.col(c).rank("average") / pl.col(c).count()).over("timestamp") for c in columns]
    else:
        raise ValueError(f"unknown normalization {method!r}: use none, zscore or rank")
    kept = [frame.schema[c] for c in columns]
    return frame.with_columns(
        e.fill_nan(None).cast(t if t.is_float() else pl.Float64)
        for e, t in zip(exprs, kept, strict=True)
    )
