"""`quant doctor` names each problem in one line with its fix, through the real command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SECRET = "sk-doctor-test-5ecret"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _doctor(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "APCA_"))}
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.update({"QUANT_HOME": str(tmp_path / "home"), **env})
    done = subprocess.run(
        [str(Path(sys.executable).parent / "quant"), "doctor", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout.splitlines()


def _failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_a_healthy_local_deployment_passes(tmp_path):
    code, lines = _doctor(tmp_path)
    assert code == 0, lines
    assert _failures(lines) == []
    checks = [line.split()[1].rstrip(":") for line in lines if line.startswith("ok")]
    assert checks == ["profile", "quant_home", "dagster", "mlflow", "journal", "broker"]
    assert lines[-1] == "all checks passed"


def test_a_stopped_postgresql_is_one_line(tmp_path):
    port = _closed_port()
    code, lines = _doctor(
        tmp_path,
        QUANT_PROFILE="production",
        QUANT_POSTGRES_URL=f"postgresql://quant:{SECRET}@127.0.0.1:{port}",
    )
    assert code == 1
    (failure,) = _failures(lines)  # not one per database on that server
    assert failure.startswith(f"FAIL postgresql: PostgreSQL at 127.0.0.1:{port} is not reachable")
    assert "fix: start PostgreSQL" in failure
    assert SECRET not in "\n".join(lines)


def test_a_wrong_mlflow_uri_is_one_line(tmp_path):
    port = _closed_port()
    code, lines = _doctor(tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
    assert code == 1
    (failure,) = _failures(lines)
    assert failure.startswith(f"FAIL mlflow: tracking server http://127.0.0.1:{port} is not")
    assert "fix: set MLFLOW_TRACKING_URI" in failure


def test_missing_broker_keys_are_one_line(tmp_path):
    code, lines = _doctor(tmp_path, "--broker", "alpaca", APCA_API_KEY_ID=SECRET)
    assert code == 1
    (failure,) = _failures(lines)
    assert failure.startswith("FAIL broker: alpaca broker keys missing from the environment:")
    assert "APCA_API_SECRET_KEY" in failure and "APCA_API_KEY_ID," not in failure
    assert SECRET not in "\n".join(lines)


def test_an_unknown_profile_is_named(tmp_path):
    code, lines = _doctor(tmp_path, QUANT_PROFILE="staging")
    assert code == 1
    assert _failures(lines) == [
        "FAIL profile: QUANT_PROFILE='staging' is not a profile: use local or production; "
        "fix: set the variables it names"
    ]


@pytest.mark.parametrize("role", ["dagster", "mlflow", "journal"])
def test_a_missing_database_says_how_to_create_it(tmp_path, role):
    from tests.quant_assets.test_production import SERVER, UNREACHABLE

    if UNREACHABLE is not None:
        pytest.skip(f"PostgreSQL at {SERVER} is not reachable ({UNREACHABLE})")
    urls = {
        "QUANT_DAGSTER_DB_URL": f"{SERVER}/postgres",
        "QUANT_MLFLOW_URL": f"{SERVER}/postgres",
        "QUANT_JOURNAL_URL": f"{SERVER}/postgres",
    }
    missing = {"dagster": "QUANT_DAGSTER_DB_URL", "mlflow": "QUANT_MLFLOW_URL"}.get(
        role, "QUANT_JOURNAL_URL"
    )
    urls[missing] = f"{SERVER}/quant_doctor_absent"
    code, lines = _doctor(tmp_path, QUANT_PROFILE="production", **urls)
    assert code == 1
    (failure,) = _failures(lines)
    assert failure.startswith(f"FAIL {role}:")
    assert "database 'quant_doctor_absent' does not exist" in failure
