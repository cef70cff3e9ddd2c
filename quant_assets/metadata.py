"""Asset metadata where users look in the Dagster UI: row counts, date ranges, charts, links.

Links to MLflow need the address of an MLflow UI: ``QUANT_MLFLOW_UI_URL`` (set by ``quant ui``
for the UI it starts, or by the deployment); without it no link is added.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MLFLOW_UI_ENV = "QUANT_MLFLOW_UI_URL"


def frame_summary(frame: pl.DataFrame, time_column: str = "timestamp") -> dict[str, Any]:
    """Row count (Dagster's ``dagster/row_count``), symbols and first/last day of ``frame``."""
    summary: dict[str, Any] = {"dagster/row_count": frame.height}
    if "symbol" in frame.columns:
        summary["n_symbols"] = frame["symbol"].n_unique()
    if time_column in frame.columns and frame.height:
        summary["first_date"] = str(frame[time_column].min())
        summary["last_date"] = str(frame[time_column].max())
    return summary


def figure_markdown(figure: Figure, title: str) -> dg.MetadataValue:
    """A chart as an inline PNG, shown by the asset's metadata panel."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    image = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{image})")


def use_mlflow_ui(url: str) -> None:
    """Link to the MLflow UI at ``url`` from this process and those it starts (unless the
    environment names one already)."""
    os.environ.setdefault(MLFLOW_UI_ENV, url)


def mlflow_run_link(experiment_id: str, run_id: str) -> dict[str, dg.MetadataValue]:
    """``{"mlflow_run": <url>}`` of the run's page in the MLflow UI, if one is configured."""
    base = os.environ.get(MLFLOW_UI_ENV, "").rstrip("/")
    if not base:
        return {}
    return {
        "mlflow_run": dg.MetadataValue.url(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")
    }


def rounded(value: float | None, digits: int = 4) -> float | None:
    """``value`` to ``digits`` significant digits, for display (exact values stay in MLflow)."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return value
    return float(f"{value:.{digits}g}")


def display_metrics(metrics: Mapping[str, float | None]) -> dict[str, float]:
    """Float ``metrics`` rounded for display (:func:`rounded`); ``None`` ones left out."""
    return {name: rounded(float(value)) for name, value in metrics.items() if value is not None}


def column_schema(
    frame: pl.DataFrame, descriptions: dict[str, str] | None = None
) -> dict[str, dg.TableSchema]:
    """``{"dagster/column_schema": ...}``: each column's name, Polars type and description."""
    descriptions = descriptions or {}
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, str(dtype), description=descriptions.get(name))
                for name, dtype in frame.schema.items()
            ]
        )
    }
