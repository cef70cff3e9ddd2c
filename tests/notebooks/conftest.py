"""TEMPORARY: stand-in for the session fixture that tests/conftest.py will provide."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def materialized_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("quant_home")
    env = {**os.environ, "QUANT_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    quant = Path(sys.executable).with_name("quant")
    subprocess.run([str(quant), "demo"], env=env, check=True, capture_output=True)
    return home
