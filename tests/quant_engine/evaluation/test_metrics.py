from datetime import date

import numpy as np
import polars as pl
import pytest

from quant_engine.evaluation import daily_ic, drawdown, ic_summary, performance_metrics


def test_daily_ic_pearson_and_spearman():
    frame = pl.DataFrame(
        {
            "timestamp": [date(2024, 1, 2)] * 5 + [date(2024, 1, 3)] * 5,
            "score": [1.0, 2, 3, 4, 5, 1, 2, 3, 4, 5],
            "label": [0.1, 0.2, 0.3, 0.4, 5.0, 5, 4, 3, 2, None],
        }
    )
    daily = daily_ic(frame, min_names=4)
    assert daily["rank_ic"].to_list() == pytest.approx([1.0, -1.0])
    assert daily["ic"][0] == pytest.approx(
        np.corrcoef([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.4, 5])[0, 1]
    )
    summary = ic_summary(daily)
    assert summary["n_days"] == 2 and summary["rank_ic"] == pytest.approx(0.0)
    assert daily_ic(frame, min_names=5).height == 1  # the day with a missing label is too thin


def test_performance_metrics_on_a_known_series():
    r = np.array([0.01, -0.02, 0.03, 0.0, -0.01])
    m = performance_metrics(r, turnover=np.array([1.0, 0.5, 0.5, 0.0, 0.0]), periods_per_year=5)
    equity = np.cumprod(1 + r)
    assert m["total_return"] == pytest.approx(equity[-1] - 1)
    assert m["annual_return"] == pytest.approx(equity[-1] - 1)  # exactly one year
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(5))
    assert m["sortino"] == pytest.approx(
        r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(5)
    )
    assert m["max_drawdown"] == pytest.approx(equity[1] / equity[0] - 1)
    assert m["calmar"] == pytest.approx(m["annual_return"] / -m["max_drawdown"])
    assert m["avg_daily_turnover"] == pytest.approx(0.4)
    assert m["hit_rate"] == pytest.approx(0.4)


def test_drawdown_from_running_peak():
    np.testing.assert_allclose(drawdown(np.array([1.0, 2.0, 1.0, 3.0])), [0, 0, -0.5, 0])
