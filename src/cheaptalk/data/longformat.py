"""The long data format: one row per decision.

Required columns: ``subject, role, round, state, message, action``; optional
``session, pair, treatment``. ``role`` is ``sender`` or ``receiver``. A sender's row
carries the state she saw and the message she sent (``action`` empty); a receiver's row
carries the message he saw and the action he took (``state`` is the true state when known,
for welfare and plots, but never used to explain his choice).

Optional ``timeout`` (1 where the platform filled in a default decision because the
participant did not answer) marks rows that must not be read as real choices.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd

from ..errors import DataFormatError  # noqa: F401 (defined there, raised here)

__all__ = ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "ROLES", "read_decisions", "write_decisions",
           "DataFormatError"]

REQUIRED_COLUMNS = ("subject", "role", "round", "state", "message", "action")
OPTIONAL_COLUMNS = ("session", "pair", "treatment", "timeout")
ROLES = ("sender", "receiver")


def repeated_names(names) -> list:
    """The names that occur more than once, in the order of their first occurrence."""
    counts = Counter(names)
    return [name for name, n in counts.items() if n > 1]


def read_decisions(path: str | Path) -> pd.DataFrame:
    """Read a decision file (``.csv`` or ``.parquet``) and check its columns.

    Row numbers in error messages are 1-based data rows (the header of a CSV is row 0).
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    if path.is_dir():
        raise DataFormatError(f"{path}: is a folder, not a data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig") as f:
                header = next(csv.reader(f), [])
            twice = sorted(repeated_names([c.strip() for c in header]))
            if twice:
                raise DataFormatError(f"{path}: row 0 (the header) names column(s) {twice} more than once")
            frame = pd.read_csv(path, dtype={"subject": str, "role": str, "session": str,
                                             "pair": str, "treatment": str}, encoding="utf-8-sig")
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise DataFormatError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise DataFormatError(f"{path}: not a well-formed CSV file: {exc}") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}; the long format needs "
                              f"{list(REQUIRED_COLUMNS)} (optional {list(OPTIONAL_COLUMNS)})")
    frame.attrs["source"] = str(path)
    return frame


def write_decisions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write decisions as ``.csv`` or ``.parquet`` (chosen by the extension)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        raise DataFormatError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    return path
