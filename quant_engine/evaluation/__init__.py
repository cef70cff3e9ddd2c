"""Signal quality (IC, decay, quantiles, robustness) and portfolio performance metrics."""

from quant_engine.evaluation.ic import daily_ic, ic_decay, ic_summary
from quant_engine.evaluation.performance import TRADING_DAYS, drawdown, performance_metrics
from quant_engine.evaluation.quantiles import quantile_returns
from quant_engine.evaluation.sharpe import bootstrap_sharpe_ci, deflated_sharpe_ratio, sharpe

__all__ = [
    "TRADING_DAYS",
    "bootstrap_sharpe_ci",
    "daily_ic",
    "deflated_sharpe_ratio",
    "drawdown",
    "ic_decay",
    "ic_summary",
    "performance_metrics",
    "quantile_returns",
    "sharpe",
]
