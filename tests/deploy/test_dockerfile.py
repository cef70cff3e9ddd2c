"""deploy/Dockerfile: its COPY steps ship what the code location needs, its pins match the
project's, and the build context they make loads the code location as the image's CMD would.

No Docker daemon is needed: the build context is reproduced in a temporary folder from the
Dockerfile's own COPY steps and .dockerignore, and loaded with this environment's Python.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            steps.append((keyword.upper(), " ".join(rest.split())))
    return steps


def _ignored(relative: str) -> bool:
    patterns = [
        p.strip()
        for p in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(relative).parts
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, bare) for p in parts):
            return True
    return False


def _copies() -> list[tuple[list[str], str]]:
    return [
        (args.split()[:-1], args.split()[-1]) for step, args in _instructions() if step == "COPY"
    ]


def _workdir() -> str:
    return [args for step, args in _instructions() if step == "WORKDIR"][-1]


def test_base_image_and_torch_pin():
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (torch_pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    installs = [args for step, args in steps if step == "RUN" and "pip install" in args]
    assert torch_pin in installs[0], "torch must be installed first, with the project's pin"
    assert "download.pytorch.org/whl/cpu" in next(a for s, a in steps if s == "ARG")
    extras = re.search(r"pip install -e '\.\[(\w+)\]'", installs[1]).group(1)
    assert extras in pyproject["project"]["optional-dependencies"]


def test_copied_files_exist_and_are_not_dockerignored():
    sources = [source for sources, _ in _copies() for source in sources]
    assert {"pyproject.toml", "quant_engine", "quant_assets"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def _build_context(target: Path) -> Path:
    """The image's WORKDIR as the COPY steps fill it (ignored files left out)."""
    for sources, destination in _copies():
        for source in sources:
            path = REPO_ROOT / source
            into = target / destination.removeprefix("./")
            if path.is_dir():
                shutil.copytree(
                    path,
                    into,
                    ignore=lambda folder, names: [
                        n for n in names if _ignored(str((Path(folder) / n).relative_to(REPO_ROOT)))
                    ],
                )
            else:
                into.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into / path.name if destination.endswith("/") else into)
    return target


def test_the_image_contents_load_the_code_location_as_the_cmd_does(tmp_path: Path):
    context = _build_context(tmp_path / "opt-quant")
    assert not list(context.rglob("__pycache__"))
    cmd = shlex.split(next(args for step, args in _instructions() if step == "CMD"))
    command = [part.strip('",[]') for part in cmd if part.strip('",[]')]
    module = command[command.index("-m") + 1]
    location = command[command.index("--location-name") + 1]
    project = tomllib.loads((context / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert location == project["code_location_name"]
    assert _workdir() == "/opt/quant"

    load = (
        "import sys, importlib, quant_assets, dagster_k8s, dagster_postgres\n"
        f"assert quant_assets.__file__.startswith({str(context)!r}), quant_assets.__file__\n"
        f"defs = importlib.import_module({module!r}).defs()\n"
        "print(sorted(job.name for job in defs.resolve_all_job_defs()))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(context),
        "QUANT_PROFILE": "production",  # as set by deploy/helm/values.yaml
        "QUANT_POSTGRES_URL": "postgresql://quant@127.0.0.1:5432",  # not connected to
        "QUANT_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run(
        [sys.executable, "-c", load], cwd=context, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model_zoo_k8s_job" in done.stdout


def test_the_load_fails_without_pyproject(tmp_path: Path):
    """The load above can fail: load_from_defs_folder reads pyproject.toml, so a COPY step
    leaving it out breaks the image."""
    context = _build_context(tmp_path / "opt-quant")
    (context / "pyproject.toml").unlink()
    load = "from quant_assets.definitions import defs; defs()"
    env = {**os.environ, "PYTHONPATH": str(context), "QUANT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", load], cwd=context, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "pyproject.toml" in done.stderr


def _entrypoint(context: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    (entrypoint,) = [json.loads(args) for step, args in _instructions() if step == "ENTRYPOINT"]
    script = context / Path(entrypoint[0]).relative_to(_workdir())
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home.parent),
        "PYTHONPATH": str(context),
        "QUANT_HOME": str(home),
    }
    return subprocess.run(
        [str(script), *args], cwd=context, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_code_server_starts_after_the_storage_is_prepared(tmp_path: Path):
    """The chart runs `dagster api grpc ...` through the image's entrypoint: `quant prepare`
    first (here on the local profile), then the command itself."""
    context = _build_context(tmp_path / "opt-quant")
    home = tmp_path / "home"
    done = _entrypoint(context, home, "dagster", "api", "grpc", "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local profile prepared" in done.stdout
    assert "Serve the Dagster inter-process API over GRPC" in done.stdout  # then the server
    assert (home / "dagster" / "dagster.yaml").is_file()
    assert (home / "mlflow" / "mlflow.db").is_file() and (home / "live" / "journal.db").is_file()


def test_run_pods_start_without_preparing(tmp_path: Path):
    context = _build_context(tmp_path / "opt-quant")
    home = tmp_path / "home"
    done = _entrypoint(context, home, "dagster", "api", "execute_run", "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prepared" not in done.stdout
    assert not home.exists()
