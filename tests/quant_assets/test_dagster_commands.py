"""Dagster's own commands, run as a new user runs them: in the root of a fresh clone, with no
DAGSTER_HOME or QUANT_HOME set. Each uses the project's instance in the clone's .quant/dagster
(the one `quant ui` and `quant demo` use there) and says nothing about the instance file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SMALL_MARKET
from tests.quant_assets.test_cli import _free_port

BIN = Path(sys.executable).parent
# What Dagster says when it finds an instance file it will not use, or none it can use.
INSTANCE_COMPLAINTS = re.compile(
    r"dagster\.yaml|DAGSTER_HOME|instance configuration|DagsterInvalidConfigError", re.I
)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh clone of the committed branch."""
    target = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(target)], check=True)
    return target


def _clean_env(clone: Path, home: Path) -> dict[str, str]:
    """Only PATH (the venv first), HOME, and the clone's code on PYTHONPATH."""
    home.mkdir(exist_ok=True)
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(clone)}


def _complaints(output: str) -> list[str]:
    """Warning or error lines about the instance file."""
    return [
        line
        for line in output.splitlines()
        if re.search(r"warn|error", line, re.I) and INSTANCE_COMPLAINTS.search(line)
    ]


def _runs_in(instance_dir: Path) -> int:
    with sqlite3.connect(instance_dir / "history" / "runs.db") as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.mark.parametrize(
    "command",
    [
        ["dagster", "definitions", "validate", "-w", "workspace.yaml"],
        ["dg", "check", "defs"],
        ["dg", "list", "defs"],
    ],
    ids=["dagster-definitions-validate", "dg-check-defs", "dg-list-defs"],
)
def test_a_check_command_works_from_the_root(clone: Path, tmp_path: Path, command: list[str]):
    done = subprocess.run(
        command,
        cwd=clone,
        env=_clean_env(clone, tmp_path / "user"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert not _complaints(output), _complaints(output)
    if command[0] == "dg" and command[1] == "list":
        assert "raw_bars" in output and "rebalance_job" in output
    else:
        assert "success" in output.lower()
    assert not list(clone.glob(".tmp_dagster_home_*"))  # Dagster's scratch folder is gone


def test_asset_materialize_uses_the_projects_instance(clone: Path, tmp_path: Path):
    config = {"resources": {"market_data": {"config": SMALL_MARKET}}}
    done = subprocess.run(
        [
            "dagster",
            "asset",
            "materialize",
            "-m",
            "quant_assets.definitions",
            "--select",
            "raw_bars",
            "--partition",
            "2016-01-04",
            "--config-json",
            json.dumps(config),
        ],
        cwd=clone,
        env=_clean_env(clone, tmp_path / "user"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert not _complaints(output), _complaints(output)
    assert _runs_in(clone / ".quant" / "dagster") == 1  # the run is in the project's instance
    assert (clone / ".quant" / "assets" / "raw_bars.parquet" / "2016-01-04.parquet").is_file()


def _instance_info(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": "{ instance { info } }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]["instance"]["info"]


@pytest.mark.parametrize("tool", ["dagster", "dg"])
def test_dev_serves_the_projects_instance_and_stops(clone: Path, tmp_path: Path, tool: str):
    port = _free_port()
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [tool, "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=clone,
            env=_clean_env(clone, tmp_path / "user"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600  # the code location loads torch and MLflow
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                time.sleep(2)
        else:
            raise AssertionError(f"{tool} dev did not answer within 600 s")
        info = _instance_info(port)
        assert "base_dir: .quant/dagster" in info, info  # the root dagster.yaml's storage
        assert (clone / ".quant" / "dagster" / "history" / "runs.db").is_file()
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=120) == 0, log.read_text()[-4000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert not _complaints(output), _complaints(output)
    if tool == "dg":
        assert "SupersessionWarning" not in output
    assert not list(clone.glob(".tmp_dagster_home_*"))
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
