"""The artifact folder of one run: manifest, metrics, equity curve, JSONL trade log, tables."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import asdict, fields, is_dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from quant_engine.io import atomic_path
from quant_engine.simulation.records import dumps, strict

PACKAGES = ("quant-platform", "numpy", "polars", "pyarrow", "pyyaml")


def config_hash(config: Any) -> str:
    """SHA-256 of the config as canonical JSON (dataclasses included)."""
    payload = asdict(config) if is_dataclass(config) else config
    text = json.dumps(strict(payload), sort_keys=True, default=str, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def describe_strategy(strategy: Any) -> dict[str, Any]:
    """A strategy's name and public parameters (a score table: its size and a digest)."""
    name = type(strategy).__name__
    signals = getattr(strategy, "signals", None)
    if isinstance(signals, pl.DataFrame):
        digest = int(signals.hash_rows(seed=0).sum()) if signals.height else 0
        return {"name": name, "rows": signals.height, "digest": digest}
    params = (
        {f.name: getattr(strategy, f.name) for f in fields(strategy) if f.init}
        if is_dataclass(strategy)
        else {}
    )
    return {"name": name, "params": params}


def write_strict_json(target: Path, payload: Any) -> Path:
    """Atomically write ``payload`` as strict JSON (no NaN: ``null``)."""
    with atomic_path(target) as tmp:
        tmp.write_text(dumps(payload, indent=2, sort_keys=True) + "\n")
    return target


@functools.cache
def git_sha(directory: Path | None = None) -> str:
    """The commit of the checkout holding this package (``git rev-parse HEAD``, asked once a
    process), or ``unknown`` outside git or without git."""
    where = directory or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def package_versions() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES` (``not installed`` if absent)."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> tuple[tuple[str, str], ...]:
    """Looked up once a process: each look-up scans the path's distributions."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return tuple(versions)


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)
    return path


class RunArtifacts:
    """``root/<run_id>/``: manifest.json first, trades.jsonl as fills happen, the rest at the end.

    The manifest is written when the run starts (status ``running``) and rewritten with the
    final status, so an interrupted run is recognisable. ``config`` is the whole resolved run
    config; the manifest holds it with the code version (``code``), and ``config_hash`` covers
    both.
    """

    def __init__(self, root: str | Path, config: Any, seed: int, name: str = "run") -> None:
        resolved = asdict(config) if is_dataclass(config) else dict(config)
        resolved["code"] = {"git_sha": git_sha(), "version": package_versions()["quant-platform"]}
        self.config_hash = config_hash(resolved)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.run_id = f"{name}-{stamp}-{self.config_hash[:8]}"
        self.path = Path(root) / self.run_id
        self.path.mkdir(parents=True, exist_ok=False)
        self.manifest: dict[str, Any] = {
            "run_id": self.run_id,
            "git_sha": git_sha(),
            "config_hash": self.config_hash,
            "config": strict(resolved),
            "seed": seed,
            "packages": package_versions(),
            "started_at": datetime.now(UTC).isoformat(),
            "status": "running",
        }
        write_strict_json(self.path / "manifest.json", self.manifest)
        self._trades: TextIO = (self.path / "trades.jsonl").open("w")

    def log_trades(self, lines: list[str]) -> None:
        """Append JSON lines to the trade log and flush, so it can be tailed."""
        if lines:
            self._trades.write("\n".join(lines) + "\n")
            self._trades.flush()

    def finish(
        self,
        status: str,
        metrics: dict[str, float],
        bars: pl.DataFrame,
        trades: pl.DataFrame,
        extra: dict[str, Any] | None = None,
        tables: dict[str, pl.DataFrame] | None = None,
    ) -> Path:
        """Close the log; write metrics, the equity curve, the fills, the other ``tables``
        (``<name>.parquet``: signals, round trips) and the final manifest."""
        self._trades.close()
        write_strict_json(self.path / "metrics.json", metrics)
        write_parquet(bars, self.path / "equity.parquet")
        write_parquet(trades, self.path / "trades.parquet")
        for name, table in (tables or {}).items():
            write_parquet(table, self.path / f"{name}.parquet")
        self.manifest.update(
            status=status, finished_at=datetime.now(UTC).isoformat(), **(extra or {})
        )
        write_strict_json(self.path / "manifest.json", self.manifest)
        return self.path

    def abort(self, error: BaseException) -> None:
        """Record a failed run in its manifest."""
        if not self._trades.closed:
            self._trades.close()
        self.manifest.update(status="failed", error=repr(error))
        write_strict_json(self.path / "manifest.json", self.manifest)
