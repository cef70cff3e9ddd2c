"""``quant doctor``: is this deployment usable? One line per check, and how to fix what is not.

Checks the profile, QUANT_HOME, the Dagster instance storage, the MLflow tracking store, the
order-journal database and the broker account (keys present, endpoint reachable). Nothing is
created or changed; secrets and passwords never appear in the output.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from quant_assets.profile import DeploymentProfile, ProfileError, redact

TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    fix: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        text = f"{status} {self.check}: {self.message}"
        return text if self.ok or not self.fix else f"{text}; fix: {self.fix}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_database(check: str, url: str, fix: str) -> Finding:
    """Can a connection be opened to the SQLite or PostgreSQL database at ``url``?"""
    shown = redact(url)
    try:
        parsed = make_url(url)
    except Exception:
        return Finding(check, False, f"{shown!r} is not a database URL", fix)
    if parsed.drivername.startswith("sqlite"):
        path = Path(parsed.database or "")
        folder = path.parent
        if not folder.exists():
            folder = next((p for p in folder.parents if p.exists()), Path("/"))
        if not os.access(folder, os.W_OK):
            return Finding(check, False, f"{folder} is not writable for {path.name}", fix)
        if path.exists():
            try:
                sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS).close()
            except sqlite3.Error as exc:
                return Finding(check, False, f"{path}: {_first_line(exc)}", fix)
        return Finding(check, True, f"SQLite {path}")
    if parsed.drivername.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(
            parsed.set(drivername="postgresql+psycopg2"),
            connect_args={"connect_timeout": int(TIMEOUT_SECONDS)},
        )
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
        except Exception as exc:
            reason = _first_line(getattr(exc, "orig", None) or exc)
            if "does not exist" in reason:
                return Finding(
                    check,
                    False,
                    f"database {parsed.database!r} does not exist on {where}",
                    "`quant prepare` creates it (so do `quant demo` and `quant ui`)",
                )
            return Finding(check, False, f"PostgreSQL at {where} is not reachable: {reason}", fix)
        finally:
            engine.dispose()
        return Finding(check, True, f"PostgreSQL {shown}")
    return Finding(check, False, f"{shown!r}: only sqlite and postgresql are supported", fix)


def check_mlflow(uri: str) -> Finding:
    """Does the MLflow tracking URI lead to a working store?"""
    fix = (
        "set MLFLOW_TRACKING_URI to a running tracking server or database "
        "(or unset it for the profile's own store)"
    )
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=TIMEOUT_SECONDS):
                return Finding("mlflow", True, f"tracking server {uri}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Finding(
                "mlflow", False, f"tracking server {uri} is not reachable: {reason}", fix
            )
    if uri.startswith(("sqlite:", "postgresql")):
        finding = check_database("mlflow", uri, fix)
        return Finding("mlflow", finding.ok, f"tracking store {finding.message}", finding.fix)
    if uri.startswith("file:") or "://" not in uri:
        return Finding("mlflow", True, f"file store {uri}")
    return Finding("mlflow", False, f"tracking URI {redact(uri)!r} has an unknown scheme", fix)


def check_broker(
    kind: str, key_envs: tuple[str, ...], probe: Callable[[], object] | None
) -> Finding:
    """Are the broker's keys in the environment, and does the account answer?"""
    if kind == "paper":
        return Finding("broker", True, "paper broker (simulated fills, no keys needed)")
    missing = [name for name in key_envs if not os.environ.get(name)]
    if missing:
        return Finding(
            "broker",
            False,
            f"{kind} broker keys missing from the environment: {', '.join(missing)}",
            f"export {' and '.join(missing)} (never put keys in config files)",
        )
    if probe is None:
        return Finding("broker", True, f"{kind} keys present (not probed)")
    try:
        probe()
    except Exception as exc:
        return Finding(
            "broker",
            False,
            f"{kind} account does not answer: {_first_line(exc)}",
            "check the keys, the endpoint (paper or live) and the network",
        )
    return Finding("broker", True, f"{kind} account answers")


def diagnose(broker_kind: str | None = None) -> Iterator[Finding]:
    """Every check, in the order a fix is best made."""
    try:
        profile = DeploymentProfile.from_env()
    except ProfileError as exc:
        yield Finding("profile", False, str(exc), "set the variables it names")
        return
    yield Finding("profile", True, f"{profile.name} (QUANT_HOME {profile.home.root})")
    home = profile.home.root
    existing = home if home.exists() else next(p for p in home.parents if p.exists())
    writable = os.access(existing, os.W_OK)
    yield Finding(
        "quant_home",
        writable,
        f"{home} {'is writable' if writable else 'cannot be written'}",
        "set QUANT_HOME to a writable folder",
    )
    pg_fix = "start PostgreSQL (pg_ctlcluster <version> main start) or correct QUANT_POSTGRES_URL"
    down = set()  # servers that refuse connections: reported once, not once per database
    for role, url in profile.postgres_urls().items():
        if _server(url) not in down:
            finding = check_database(role, url, pg_fix)
            if not finding.ok and "is not reachable" in finding.message:
                down.add(_server(url))
                yield Finding("postgresql", False, finding.message, pg_fix)
    if profile.dagster_db_url is None:
        yield Finding("dagster", True, f"SQLite instance in {profile.home.dagster}")
    elif _server(profile.dagster_db_url) not in down:
        yield check_database("dagster", profile.dagster_db_url, pg_fix)
    from quant_assets.resources.mlflow import MlflowResource

    uri = MlflowResource().configured_uri()  # the check opens it; creating is `quant prepare`'s
    if _server(uri) not in down:
        yield check_mlflow(uri)
    if _server(profile.journal_url) not in down:
        yield check_database("journal", profile.journal_url, pg_fix)
    yield _broker_finding(broker_kind)


def _server(url: str) -> tuple[str, int] | None:
    """(host, port) of a PostgreSQL URL, None for anything else."""
    if not url.startswith("postgresql"):
        return None
    parsed = make_url(url)
    return parsed.host or "localhost", parsed.port or 5432


def _broker_finding(kind: str | None) -> Finding:
    from quant_assets.definitions import defs
    from quant_assets.resources.broker import BrokerResource

    configured = defs().resources.get("broker")
    resource = configured if isinstance(configured, BrokerResource) else BrokerResource()
    if kind:
        resource = resource.model_copy(update={"kind": kind})
    keys = {
        "alpaca": (resource.alpaca_key_env, resource.alpaca_secret_env),
        "ccxt": (resource.ccxt_key_env, resource.ccxt_secret_env),
    }.get(resource.kind, ())
    return check_broker(resource.kind, keys, lambda: resource.broker().account())


def run_doctor(broker_kind: str | None = None) -> int:
    """Print one line per check; exit status 1 if any failed."""
    failed = 0
    for finding in diagnose(broker_kind):
        print(finding.line(), flush=True)
        failed += not finding.ok
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
