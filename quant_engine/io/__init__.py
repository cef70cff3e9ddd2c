"""Atomic file writes: output appears whole or not at all."""

from quant_engine.io.atomic import atomic_path, write_json

__all__ = ["atomic_path", "write_json"]
