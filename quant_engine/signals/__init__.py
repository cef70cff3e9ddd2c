"""Signal files: daily scores per symbol with the model version that made them."""

from quant_engine.signals.files import (
    SIGNAL_COLUMNS,
    align_scores,
    extend_signal_files,
    read_score_table,
    read_signal_file,
    write_signal_files,
)

__all__ = [
    "SIGNAL_COLUMNS",
    "align_scores",
    "extend_signal_files",
    "read_score_table",
    "read_signal_file",
    "write_signal_files",
]
