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

    Uses no other day's data, so it cannot leak the future into the past.
    """
    if method == "none":
        return frame
    if method == "zscore":
        exprs = [
            ((pl.col(c) - pl.col(c).mean()) / pl.col(c).std()).clip(-clip, clip).over("timestamp")
            for c in columns
        ]
    elif method == "rank":
        exprs = [(pl.col(c).rank("average") / pl.col(c).count()).over("timestamp") for c in columns]
    else:
        raise ValueError(f"unknown normalization {method!r}: use none, zscore or rank")
    return frame.with_columns(e.fill_nan(None) for e in exprs)
