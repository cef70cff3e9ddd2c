"""Bad bar files and the error each must produce (shared by engine and asset tests)."""

HEADER = "timestamp,open,high,low,close,volume"
GOOD_ROWS = [
    "2024-01-02,10,11,9,10.5,1000",
    "2024-01-03,10.5,11.5,10,11,1200",
    "2024-01-04,11,12,10.5,11.5,900",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# name -> (file content of BAD.csv, expected fragment of the error message)
BAD_INPUTS: dict[str, tuple[str, str]] = {
    "missing_column": (
        csv_text("2024-01-02,10,11,9,10.5", header="timestamp,open,high,low,close"),
        "BAD.csv: missing column(s) 'volume'",
    ),
    "empty_file": ("", "BAD.csv: file is empty"),
    "header_only": (csv_text(), "BAD.csv: file is empty (no data rows)"),
    "non_numeric": (
        csv_text(GOOD_ROWS[0], GOOD_ROWS[1], "2024-01-04,11,12,10.5,abc,900"),
        "BAD.csv, row 3, column 'close': value 'abc' is not a number",
    ),
    "bad_timestamp": (
        csv_text(GOOD_ROWS[0], "yesterday,10.5,11.5,10,11,1200"),
        "BAD.csv, row 2, column 'timestamp': value 'yesterday' is not a timestamp",
    ),
    "missing_value": (
        csv_text(GOOD_ROWS[0], "2024-01-03,10.5,,10,11,1200"),
        "BAD.csv, row 2, column 'high': missing value",
    ),
    "nan_price": (
        csv_text(GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,NaN,1200"),
        "BAD.csv, row 2, column 'close': value nan is not a positive finite price",
    ),
    "non_positive_price": (
        csv_text(GOOD_ROWS[0], GOOD_ROWS[1], "2024-01-04,11,12,-1,11.5,900"),
        "BAD.csv, row 3, column 'low': value -1.0 is not a positive finite price",
    ),
    "negative_volume": (
        csv_text(GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,11,-5"),
        "BAD.csv, row 2, column 'volume': value -5.0 is not a non-negative finite volume",
    ),
    "high_below_low": (
        csv_text(GOOD_ROWS[0], "2024-01-03,10.5,9,10,9.5,1200"),
        "BAD.csv, row 2, column 'high': high 9.0 is below low 10.0",
    ),
    "open_outside_range": (
        csv_text(GOOD_ROWS[0], "2024-01-03,12,11.5,10,11,1200"),
        "BAD.csv, row 2, column 'open': open 12.0 is outside [low 10.0, high 11.5]",
    ),
    "close_outside_range": (
        csv_text(GOOD_ROWS[0], "2024-01-03,10.5,11.5,10,9.9,1200"),
        "BAD.csv, row 2, column 'close': close 9.9 is outside [low 10.0, high 11.5]",
    ),
    "duplicate_timestamp": (
        csv_text(GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1].replace("1200", "1300")),
        "BAD.csv, row 3, column 'timestamp': duplicate timestamp 2024-01-03 00:00:00+00:00",
    ),
    "unsorted_timestamps": (
        csv_text(GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1]),
        "BAD.csv, row 3, column 'timestamp': timestamp 2024-01-03 00:00:00+00:00 is earlier",
    ),
}
