"""What the assets show in the Dagster UI: row counts, date ranges, charts, MLflow links."""

import base64
from datetime import UTC, datetime

import matplotlib.pyplot as plt
import polars as pl

from quant_assets.metadata import (
    MLFLOW_UI_ENV,
    display_metrics,
    figure_markdown,
    frame_summary,
    mlflow_run_link,
    use_mlflow_ui,
)


def _metadata(result, asset: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == asset
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _png(markdown: str) -> bytes:
    return base64.b64decode(markdown.split("base64,", 1)[1].rstrip(")"))


def test_assets_report_rows_dates_and_charts(materialized):
    home, result = materialized
    for asset in ("features", "alpha_model", "signals", "backtest"):
        meta = _metadata(result, asset)
        stored = pl.read_parquet(home / "assets" / f"{asset}.parquet")
        assert meta["dagster/row_count"] == stored.height
        if "symbol" in stored.columns:  # the backtest's rows are days of each strategy
            assert meta["n_symbols"] == stored["symbol"].n_unique()
        assert meta["first_date"] == str(stored["timestamp"].min())
        assert meta["last_date"] == str(stored["timestamp"].max())
    model = _metadata(result, "alpha_model")
    for chart in ("ic_over_time", "equity_and_drawdown"):
        assert _png(model[chart]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "mlflow_run" not in model  # no MLflow UI configured in this run
    bars = _metadata(result, "raw_bars")  # the run's own partition: the market's last day
    assert bars["dagster/row_count"] == bars["n_symbols"] > 0
    assert bars["first_date"] == bars["last_date"]


def test_frame_summary_of_an_empty_frame_has_only_its_row_count():
    empty = pl.DataFrame(
        {"symbol": [], "timestamp": []}, schema={"symbol": pl.String, "timestamp": pl.Datetime}
    )
    assert frame_summary(empty) == {"dagster/row_count": 0, "n_symbols": 0}
    day = datetime(2024, 1, 2, tzinfo=UTC)
    one = pl.DataFrame({"symbol": ["A", "B"], "timestamp": [day, day]})
    assert frame_summary(one)["first_date"] == str(one["timestamp"][0])


def test_mlflow_link_only_when_a_ui_is_configured(monkeypatch):
    monkeypatch.setenv(MLFLOW_UI_ENV, "")  # restored (unset) after the test
    monkeypatch.delenv(MLFLOW_UI_ENV)
    assert mlflow_run_link("1", "abc") == {}
    use_mlflow_ui("http://127.0.0.1:5000/")
    link = mlflow_run_link("1", "abc")["mlflow_run"]
    assert link.url == "http://127.0.0.1:5000/#/experiments/1/runs/abc"
    use_mlflow_ui("http://elsewhere:1")  # a URL the environment names already wins
    assert mlflow_run_link("1", "abc")["mlflow_run"].url.startswith("http://127.0.0.1:5000/")


def test_figure_markdown_is_an_inline_png():
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    value = figure_markdown(figure, "line")
    plt.close(figure)
    assert value.value.startswith("![line](data:image/png;base64,")
    assert _png(value.value).startswith(b"\x89PNG")


def test_metrics_are_shown_to_four_significant_digits():
    shown = display_metrics({"ic": 0.10961928362243747, "sharpe": 5.239588739037091, "x": None})
    assert shown == {"ic": 0.1096, "sharpe": 5.24}
    assert display_metrics({"drawdown": -0.013036252759758171, "n": 3}) == {
        "drawdown": -0.01304,
        "n": 3.0,
    }
