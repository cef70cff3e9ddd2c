"""Where compiled kernels cache: beside the sources, or QUANT_HOME where those are read-only."""

import os
import subprocess
import sys

from quant_engine import paths
from tests.conftest import REPO_ROOT


def test_a_read_only_package_caches_its_kernels_under_quant_home(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("QUANT_HOME", str(tmp_path / "home"))
    package = tmp_path / "site-packages" / "quant_engine"
    package.mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(
        paths.os, "access", lambda p, mode: False if p == package else real_access(p, mode)
    )
    assert paths.numba_cache_fallback(package) == tmp_path / "home" / "cache" / "numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "home" / "cache" / "numba")


def test_a_writable_checkout_or_a_chosen_dir_keeps_numbas_choice(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert paths.numba_cache_fallback(tmp_path) is None  # writable: __pycache__ beside it
    assert "NUMBA_CACHE_DIR" not in os.environ
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setattr(paths.os, "access", lambda p, mode: False)
    assert paths.numba_cache_fallback(tmp_path) is None
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_kernels_cache_in_the_chosen_dir_and_load_from_it_in_the_next_process(tmp_path):
    code = (
        "import numpy as np\n"
        "from quant_engine.simulation.kernels import positions_kernel as k\n"
        "k(np.zeros((3, 2), bool), np.zeros((3, 2), bool))\n"
        "print(k.stats.cache_hits.get(k.signatures[0], 0))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONPATH": str(REPO_ROOT)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["0", "1"]  # compiled and stored, then loaded from the cache
    assert any((tmp_path / "numba").rglob("*.nbi"))
