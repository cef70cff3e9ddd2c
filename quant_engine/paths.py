"""Where local state lives: one directory, ``QUANT_HOME`` (default ``./.quant``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QuantHome:
    """The layout of the local state directory."""

    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> QuantHome:
        """Use ``root`` if given, else ``$QUANT_HOME``, else ``.quant`` in the working directory."""
        chosen = root or os.environ.get("QUANT_HOME") or ".quant"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow / "artifacts"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def signals(self) -> Path:
        return self.root / "signals"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def cache(self) -> Path:
        """What can be rebuilt: compiled kernels, generated synthetic markets."""
        return self.root / "cache"

    def ensure(self) -> QuantHome:
        """Create every directory of the layout."""
        for path in (self.dagster, self.mlflow_artifacts, self.assets, self.signals, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self


def numba_cache_fallback(package_dir: Path | None = None) -> Path | None:
    """Cache compiled kernels under ``QUANT_HOME/cache/numba`` where this package is read-only.

    numba caches a kernel beside its source (``__pycache__``); in a read-only install it falls
    back to the user's cache directory (cold in every new container) or, on a read-only file
    system, fails to import the kernels at all. There this sets ``NUMBA_CACHE_DIR`` (unless it
    is set already), so every process of one ``QUANT_HOME`` shares one warm cache. It acts only
    before numba is first imported (``quant_engine`` calls it on import). Returns the folder
    chosen, or ``None`` when numba's own choice stands.
    """
    package = package_dir or Path(__file__).resolve().parent
    if "NUMBA_CACHE_DIR" in os.environ or os.access(package, os.W_OK):
        return None
    target = QuantHome.resolve().cache / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    return target
