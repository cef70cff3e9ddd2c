"""Signal quality (IC) and portfolio performance metrics."""

from quant_engine.evaluation.ic import daily_ic, ic_summary
from quant_engine.evaluation.performance import TRADING_DAYS, drawdown, performance_metrics

__all__ = ["TRADING_DAYS", "daily_ic", "drawdown", "ic_summary", "performance_metrics"]
