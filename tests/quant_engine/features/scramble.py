"""Rewrite every bar after a cutoff: the tool behind the no-lookahead tests."""

import numpy as np
import polars as pl


def scramble_after(bars: pl.DataFrame, cutoff, seed: int = 0) -> pl.DataFrame:
    """Replace every bar after ``cutoff`` with different (still valid) values."""
    rng = np.random.default_rng(seed)
    shock = pl.Series(rng.uniform(0.5, 2.0, bars.height))
    later = pl.col("timestamp") > cutoff
    return bars.with_columns(
        *(
            pl.when(later).then(pl.col(c) * shock).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        ),
        pl.when(later).then(pl.col("volume") * shock.pow(3)).otherwise(pl.col("volume")),
    )
