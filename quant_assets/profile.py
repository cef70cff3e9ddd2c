"""Deployment profiles: where Dagster, MLflow and the order journal keep their state.

One environment variable picks the profile, ``QUANT_PROFILE``:

- ``local`` (default): everything in ``QUANT_HOME``: SQLite for the Dagster instance, MLflow and
  the order journal, MLflow artifacts and asset Parquet files beside them.
- ``production``: PostgreSQL for all three, one database each on the server named by
  ``QUANT_POSTGRES_URL`` (``postgresql://user:password@host:5432``): ``quant_dagster``,
  ``quant_mlflow``, ``quant_journal``. Any of them can be pointed elsewhere with
  ``QUANT_DAGSTER_DB_URL``, ``QUANT_MLFLOW_URL`` and ``QUANT_JOURNAL_URL``; MLflow artifacts
  go to ``QUANT_ARTIFACT_ROOT`` (a shared path or ``s3://...``), default ``QUANT_HOME``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from quant_engine.io.atomic import atomic_path
from quant_engine.paths import QuantHome

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILE_ENV = "QUANT_PROFILE"
POSTGRES_ENV = "QUANT_POSTGRES_URL"
DAGSTER_DB_ENV = "QUANT_DAGSTER_DB_URL"  # read by deploy/dagster.production.yaml
MLFLOW_ENV = "QUANT_MLFLOW_URL"  # (MLFLOW_TRACKING_URI, set at start-up, still wins)
JOURNAL_ENV = "QUANT_JOURNAL_URL"
ARTIFACT_ROOT_ENV = "QUANT_ARTIFACT_ROOT"
DATABASES = {"dagster": "quant_dagster", "mlflow": "quant_mlflow", "journal": "quant_journal"}
ProfileName = Literal["local", "production"]
# Where the root dagster.yaml keeps the local instance, relative to the checkout (the default
# QUANT_HOME, .quant, plus /dagster): what Dagster's own commands use when started in the root.
CHECKOUT_INSTANCE_DIR = ".quant/dagster"


class ProfileError(ValueError):
    """The environment does not describe a usable deployment."""


@dataclass(frozen=True)
class DeploymentProfile:
    """The resolved state locations of one deployment."""

    name: ProfileName
    home: QuantHome
    instance_yaml: Path  # installed as $DAGSTER_HOME/dagster.yaml
    dagster_db_url: str | None  # None: SQLite inside DAGSTER_HOME
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    journal_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploymentProfile:
        """The profile ``QUANT_PROFILE`` names, filled in from the environment."""
        env = os.environ if env is None else env
        name = env.get(PROFILE_ENV, "local") or "local"
        home = QuantHome.resolve(env.get("QUANT_HOME"))
        if name == "local":
            return cls(
                name="local",
                home=home,
                instance_yaml=PROJECT_ROOT / "dagster.yaml",
                dagster_db_url=None,
                mlflow_tracking_uri=home.mlflow_tracking_uri,
                mlflow_artifact_root=home.mlflow_artifacts.as_uri(),
                journal_url=env.get(JOURNAL_ENV)
                or f"sqlite:///{home.root / 'live' / 'journal.db'}",
            )
        if name != "production":
            raise ProfileError(f"{PROFILE_ENV}={name!r} is not a profile: use local or production")
        server = env.get(POSTGRES_ENV, "")
        urls = {key: env.get(var, "") for key, var in _OVERRIDES.items()}
        if not server and not all(urls.values()):
            missing = [var for key, var in _OVERRIDES.items() if not urls[key]]
            raise ProfileError(
                f"the production profile needs {POSTGRES_ENV} (postgresql://user@host:5432) "
                f"or all of {', '.join(missing)}"
            )
        for key, database in DATABASES.items():
            urls[key] = urls[key] or _database_url(server, database)
        # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would otherwise pick psycopg 3.
        dagster_url = make_url(urls["dagster"]).set(drivername="postgresql+psycopg2")
        return cls(
            name="production",
            home=home,
            instance_yaml=PROJECT_ROOT / "deploy" / "dagster.production.yaml",
            dagster_db_url=dagster_url.render_as_string(hide_password=False),
            mlflow_tracking_uri=urls["mlflow"],
            mlflow_artifact_root=env.get(ARTIFACT_ROOT_ENV) or home.mlflow_artifacts.as_uri(),
            journal_url=urls["journal"],
        )

    def postgres_urls(self) -> dict[str, str]:
        """The PostgreSQL databases this profile uses, by role."""
        urls = {
            "dagster": self.dagster_db_url or "",
            "mlflow": self.mlflow_tracking_uri,
            "journal": self.journal_url,
        }
        return {role: url for role, url in urls.items() if url.startswith("postgresql")}

    def install_instance(self) -> Path:
        """Write the profile's instance settings to ``$DAGSTER_HOME/dagster.yaml``.

        Paths under the checkout's ``.quant/dagster`` (the root dagster.yaml) become the same
        paths under this profile's ``QUANT_HOME/dagster``; everything else is kept as it is.
        """
        settings = _rebase(yaml.safe_load(self.instance_yaml.read_text()), self.home.dagster)
        target = self.home.dagster / "dagster.yaml"
        with atomic_path(target) as tmp:
            tmp.write_text(
                f"# Installed by `quant` from {self.instance_yaml}; edit that file instead.\n"
                + yaml.safe_dump(settings, sort_keys=False)
            )
        return target

    def export(self) -> None:
        """Put the profile into this process's environment, for Dagster and MLflow to read."""
        os.environ["QUANT_HOME"] = str(self.home.root)
        os.environ["DAGSTER_HOME"] = str(self.home.dagster)
        if self.dagster_db_url:
            os.environ[DAGSTER_DB_ENV] = self.dagster_db_url


def _rebase(value: object, instance_dir: Path) -> object:
    if isinstance(value, dict):
        return {key: _rebase(item, instance_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebase(item, instance_dir) for item in value]
    if isinstance(value, str) and Path(value).parts[:2] == Path(CHECKOUT_INSTANCE_DIR).parts:
        return str(instance_dir.joinpath(*Path(value).parts[2:]))
    return value


def make_url(url: str) -> Any:
    """SQLAlchemy's URL parser, imported on first use: ``quant run`` never needs SQLAlchemy."""
    from sqlalchemy.engine import make_url as parse

    return parse(url)


_OVERRIDES = {"dagster": DAGSTER_DB_ENV, "mlflow": MLFLOW_ENV, "journal": JOURNAL_ENV}


def _database_url(server: str, database: str) -> str:
    try:
        url = make_url(server)
    except Exception as exc:
        raise ProfileError(f"{POSTGRES_ENV} is not a database URL: {exc}") from exc
    if not url.drivername.startswith("postgresql"):
        raise ProfileError(f"{POSTGRES_ENV} must be a postgresql:// URL, not {url.drivername}://")
    return url.set(database=database).render_as_string(hide_password=False)


def redact(url: str) -> str:
    """``url`` with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def ensure_databases(profile: DeploymentProfile) -> list[str]:
    """Create the profile's PostgreSQL databases that do not exist yet; returns those created."""
    import sqlalchemy

    created = []
    for url in profile.postgres_urls().values():
        target = make_url(url)
        admin = sqlalchemy.create_engine(
            target.set(drivername="postgresql+psycopg2", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        try:
            with admin.connect() as connection:
                exists = connection.execute(
                    sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": target.database},
                ).first()
                if not exists:
                    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{target.database}"'))
                    created.append(target.database)
        finally:
            admin.dispose()
    return created
