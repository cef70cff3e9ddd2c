"""The float type feature values are stored in: computed in float64, stored as either.

Float32 halves the feature matrix (what Qlib stores; LightGBM and torch train on float32
anyway); float64 keeps every computed bit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

FeatureDtype = Literal["float32", "float64"]
POLARS_DTYPES: dict[str, type[pl.DataType]] = {"float32": pl.Float32, "float64": pl.Float64}


def polars_dtype(dtype: str) -> type[pl.DataType]:
    """The polars type of ``dtype`` (``float32`` or ``float64``)."""
    if dtype not in POLARS_DTYPES:
        raise ValueError(f"unknown feature dtype {dtype!r}: use float32 or float64")
    return POLARS_DTYPES[dtype]


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy type of ``dtype`` (``float32`` or ``float64``)."""
    polars_dtype(dtype)  # an unknown name fails as it does there
    return np.dtype(dtype)
