"""Qlib's side of ``factor_library.py``: Alpha158 through Qlib's own expression engine.

Run by ``factor_library.py`` in a fresh process per timing (Qlib keeps loaded series in
memory): ``python bench/factor_library_qlib.py PROVIDER_DIR KERNELS [OUT.parquet]``.
Needs PyPI ``pyqlib`` in the interpreter that runs it. Reads the panel that
``factor_library.py`` dumped in Qlib's binary format, evaluates the 158 expressions of
``Alpha158DL.get_feature_config()`` (what ``qlib.contrib.data.handler.Alpha158`` loads) with
``D.features`` and prints one JSON line: seconds, peak RSS; writes the factors to OUT.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    provider, kernels = sys.argv[1], int(sys.argv[2])
    out = sys.argv[3] if len(sys.argv) > 3 else None
    started = time.perf_counter()
    try:
        import qlib
        from qlib.contrib.data.loader import Alpha158DL
        from qlib.data import D
    except ImportError as error:
        raise SystemExit(
            f"Qlib is not importable in {sys.executable} ({error}): install it there with "
            "`pip install pyqlib`, or pass factor_library.py --qlib-python"
        ) from error

    qlib.init(
        provider_uri=provider,
        region="us",
        kernels=kernels,
        expression_cache=None,
        dataset_cache=None,
        logging_level="WARNING",
    )
    fields, names = Alpha158DL.get_feature_config()
    calendar = D.calendar(freq="day")
    init_seconds = time.perf_counter() - started
    started = time.perf_counter()
    factors = D.features(
        D.instruments("all"), fields, start_time=calendar[0], end_time=calendar[-1], freq="day"
    )
    seconds = time.perf_counter() - started
    factors.columns = names
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out:
        factors.reset_index().to_parquet(out)
    print(
        json.dumps(
            {
                "qlib_version": qlib.__version__,
                "kernels": kernels,
                "init_seconds": round(init_seconds, 2),
                "seconds": round(seconds, 2),
                "rows": len(factors),
                "factor_columns": len(names),
                "peak_rss_mib": round(peak / 1024),
                "peak_rss_mib_largest_worker": round(children / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
