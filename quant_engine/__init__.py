"""quant_engine: the plain-Python core of the platform (no Dagster in here).

Subpackages, in pipeline order: ``data`` (bar schema, loaders, synthetic market),
``features`` (features and labels), ``models`` (alpha models and walk-forward),
``evaluation`` (IC and performance metrics), ``signals`` (signal files) and
``backtest`` (vectorized backtester and its report).
"""

from quant_engine.paths import numba_cache_fallback

__version__ = "0.1.0"

numba_cache_fallback()  # before any kernel module imports numba
