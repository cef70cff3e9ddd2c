"""The layering rule: quant_engine is a plain library that never imports dagster."""

import ast
import pkgutil
import subprocess
import sys

import quant_engine
from tests.conftest import REPO_ROOT


def test_no_engine_module_imports_dagster_in_source():
    offenders = []
    for path in (REPO_ROOT / "quant_engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0].startswith("dagster")]
    assert offenders == []


def test_importing_every_engine_module_loads_no_dagster():
    modules = [m.name for m in pkgutil.walk_packages(quant_engine.__path__, "quant_engine.")]
    assert len(modules) > 10
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
