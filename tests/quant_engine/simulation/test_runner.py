"""YAML-config runs through the ``quant`` CLI: run, walk-forward, profiling, config errors."""

import json
import pstats
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.data import SyntheticMarketConfig, generate_market
from tests.conftest import REPO_ROOT

CONFIG = {
    "run": {"name": "mom", "simulator": "event_driven", "seed": 3, "artifacts_dir": "out"},
    "data": {"source": "synthetic", "n_symbols": 6, "n_days": 300, "seed": 3},
    "strategy": {"name": "momentum", "params": {"lookback": 10}},
    "portfolio": {"mode": "long_short", "top_k": 2},
    "costs": {"commission_bps": 2.0, "half_spread_bps": 3.0, "impact_coef": 0.1},
    "limits": {"max_gross_exposure": 1.0, "drawdown_stop": 0.9},
    "walk_forward": {
        "train_bars": 120,
        "test_bars": 60,
        "grid": {"lookback": [5, 20], "top_k": [1, 2]},
    },
}


def _write(tmp_path, config, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_quant_run_writes_a_profiled_artifact_folder(tmp_path, capsys):
    path = _write(tmp_path, CONFIG)
    assert main(["run", "-c", str(path), "--profile"]) == 0
    summary = json.loads(capsys.readouterr().out)
    folder = tmp_path / "out" / summary["artifacts"].split("/")[-1]
    assert {"manifest.json", "metrics.json", "equity.parquet", "trades.jsonl"} <= {
        p.name for p in folder.iterdir()
    }
    assert summary["metrics"]["n_fills"] > 0
    assert json.loads((folder / "manifest.json").read_text())["loop"] == "python"  # impact
    stats = pstats.Stats(str(folder / "profile.pstats"))
    assert any("engine.py" in key[0] for key in stats.stats)


def test_the_sma_crossover_config_runs_the_compiled_loop(tmp_path, capsys):
    """The shipped config (sleeves under a gross exposure cap and a drawdown stop) takes the
    compiled bar loop, which its start-up budget needs (``bench/run_start.py``)."""
    config = REPO_ROOT / "configs" / "sma_crossover.yaml"
    assert main(["run", "-c", str(config), "--out", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "manifest.json").read_text())["loop"] == "compiled"


HEAVY = ("matplotlib", "torch", "mlflow", "lightgbm", "dagster", "sklearn", "sqlalchemy")
# numba imports scipy's top package itself; scipy.linalg only for its BLAS probe, which the
# runner skips (0.3 s)
HEAVY_MODULES = ("scipy.linalg",)


@pytest.mark.parametrize("simulator", ["event_driven", "vectorized"])
def test_quant_run_imports_no_plotting_ml_or_orchestration_stack(tmp_path, simulator):
    """``quant run`` starts fast: its whole path loads none of the heavy packages it never uses
    (nor scipy.linalg, which numba would import to probe for BLAS)."""
    config = yaml.safe_load((REPO_ROOT / "configs" / "sma_crossover.yaml").read_text())
    config["run"]["simulator"] = simulator
    if simulator == "vectorized":
        config.pop("limits")
    path = _write(tmp_path, config)
    code = (
        "import json, sys\n"
        "from quant_assets.cli import main\n"
        f"status = main(['run', '-c', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        f"heavy += [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'status': status, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 0, "heavy": []}, done.stderr
    assert (tmp_path / "out").is_dir()


def test_blas_kernels_still_work_after_a_run_skipped_the_blas_probe(tmp_path):
    """The skipped probe only chose np.convolve's loop: np.dot and @ compile and call BLAS."""
    path = _write(tmp_path, CONFIG)
    code = (
        "import sys\n"
        "import numba, numpy as np\n"
        "from quant_engine.simulation.runner import run_from_config\n"
        f"run_from_config({str(path)!r}, out={str(tmp_path / 'out')!r})\n"
        "assert 'scipy.linalg' not in sys.modules\n"
        "a, b = np.arange(12.0).reshape(3, 4), np.arange(8.0).reshape(4, 2)\n"
        "product = numba.njit(lambda x, y: (np.dot(x, y), x @ y))(a, b)\n"
        "convolved = numba.njit(lambda x, y: np.convolve(x, y))(a[0], b[:, 0])\n"
        "assert all(np.array_equal(p, a @ b) for p in product)\n"
        "assert np.array_equal(convolved, np.convolve(a[0], b[:, 0]))\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.stdout.strip().endswith("ok"), done.stderr


def test_a_numba_that_needs_blas_to_import_still_runs(tmp_path):
    """Where numba's array module cannot be imported without scipy's BLAS, the run imports it
    as numba wants instead of failing."""
    path = _write(tmp_path, CONFIG)
    code = (
        "import importlib.abc, sys\n"
        "class NeedsBlas(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        blocked = 'scipy.linalg.cython_blas' in sys.modules\n"
        "        if name == 'numba.np.arraymath' and blocked:\n"
        "            raise ImportError('this numba needs scipy.linalg.cython_blas')\n"
        "sys.meta_path.insert(0, NeedsBlas())\n"
        "from quant_engine.simulation.runner import run_from_config\n"
        f"run_from_config({str(path)!r}, out={str(tmp_path / 'out')!r})\n"
        "assert 'numba.np.arraymath' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.stdout.strip().endswith("ok"), done.stderr


def test_vectorized_and_event_driven_runs_of_a_config_agree(tmp_path, capsys):
    results = {}
    for simulator in ("vectorized", "event_driven"):
        config = {**CONFIG, "run": {**CONFIG["run"], "simulator": simulator}, "limits": {}}
        assert main(["run", "-c", str(_write(tmp_path, config, f"{simulator}.yaml"))]) == 0
        results[simulator] = json.loads(capsys.readouterr().out)["metrics"]
    for key in ("sharpe", "total_return", "max_drawdown"):
        assert results["event_driven"][key] == pytest.approx(results["vectorized"][key], rel=1e-9)


def test_quant_wfv_selects_parameters_per_fold(tmp_path, capsys):
    assert main(["wfv", "-c", str(_write(tmp_path, CONFIG))]) == 0
    summary = json.loads(capsys.readouterr().out)
    folds = summary["folds"]
    assert len(folds) == (300 - 120) // 60
    grid = CONFIG["walk_forward"]["grid"]
    for fold in folds:
        assert fold["params"]["lookback"] in grid["lookback"]
        assert fold["params"]["top_k"] in grid["top_k"]
        assert fold["test"][0] > fold["train"][1]  # each test fold follows its training fold
    curve = pl.read_parquet(f"{summary['artifacts']}/equity.parquet")
    assert curve.height == len(folds) * 60
    trades = pl.read_parquet(f"{summary['artifacts']}/trades.parquet")
    assert set(trades["fold"]) == set(range(len(folds)))  # out-of-sample fills of every fold
    assert np.isfinite(summary["metrics"]["sharpe"])


def test_a_csv_directory_config_runs(tmp_path, capsys):
    bars = generate_market(SyntheticMarketConfig(n_symbols=3, n_days=120, seed=1)).bars
    data = tmp_path / "bars"
    data.mkdir()
    for (symbol,), frame in bars.group_by("symbol"):
        frame.drop("symbol").write_csv(data / f"{symbol}.csv")
    config = {
        **CONFIG,
        "data": {"source": "csv", "directory": "bars"},
        "strategy": {"name": "sma_crossover", "params": {"fast": 5, "slow": 20}},
        "portfolio": {"mode": "long_only", "allocation": "per_symbol"},
    }
    assert main(["run", "-c", str(_write(tmp_path, config))]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": {"name": "nope"}}, "strategy.name 'nope'"),
        ({"costs": {"commision_bps": 1.0}}, "unknown key(s) ['commision_bps']"),
        ({"portfolio": {"mode": "sideways"}}, "unknown mode 'sideways'"),
        ({"extra": 1}, "unknown section(s) ['extra']"),
        ({"run": {"simulator": "vectorized"}}, "event_driven only"),
    ],
)
def test_a_bad_config_is_one_clear_error(tmp_path, capsys, change, message):
    assert main(["run", "-c", str(_write(tmp_path, {**CONFIG, **change}))]) == 2
    err = capsys.readouterr().err
    assert message in err and "config.yaml" in err
