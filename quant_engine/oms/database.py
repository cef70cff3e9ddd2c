"""SQLAlchemy engines for the journal and the paper broker: SQLite by path, PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa


def database_url(target: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL for ``target``: a URL is kept, a file path becomes a SQLite URL.

    ``postgresql://`` URLs are routed to the psycopg (version 3) driver.
    """
    text = str(target)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def make_engine(target: str | os.PathLike[str]) -> sa.Engine:
    """An engine for ``target``.

    SQLite files get their directory created, a busy timeout, and write-ahead logging with full
    synchronous commits: each commit is one fsync of the log (durable before an order is sent)
    and readers (the UI, a reconciliation) do not block the writer.
    """
    url = database_url(target)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
