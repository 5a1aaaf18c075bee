"""Importing repeated-play exports as trust logs, with a column map whose output is ``trust-logs``.

A lab study of advice taking, or a platform's export, records who followed which
recommendation and whether it turned out right. The map (``docs/importing.md``) says how its
columns make the event columns that ``cheaptalk trust fit`` reads (``docs/dynamics.md``)::

    [output]
    kind = "trust-logs"

    [columns]
    seller = { template = "{SubID}-{Advisor}" }   # one learner x source of advice
    subject = "SubID"                             # several sellers of one person (optional)
    time = "trial_num"
    recommendation = { value = 1 }
    followed = "choice"                           # binary adoption (or action + own_estimate)
    fidelity = "AdvisorCorrect"                   # in [0, 1] (or truth, with --fidelity-scale)
    feedback = { condition = "AdvisorCorrect in [0, 1]" }
    segment = { template = "advisor {Advisor}" }  # optional

The result is a directory: ``events/part-00000.parquet``, ``sellers.parquet`` (each seller's
subject) and ``schema.json`` (the adoption kind), the layout ``trust generate`` writes. Every
source row becomes an event or is counted with its reason; a row whose decision is blank is
an event without a decision (a missed trial), not an excluded row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .importing import TRUST_LOG_COLUMNS, ImportMap, ImportReport, MapError, _map_values, kept_rows, numeric_column
from .validation import shown_value

__all__ = ["TRUST_LOG_COLUMNS", "TrustLogReport", "import_trust_logs", "write_trust_logs"]

_NUMERIC = ("time", "recommendation", "followed", "action", "own_estimate", "fidelity", "truth", "feedback")


@dataclass
class TrustLogReport(ImportReport):
    """What an import to trust logs did with every source row."""

    n_events: int = 0
    n_sellers: int = 0
    n_subjects: int = 0

    def to_dict(self) -> dict:
        return super().to_dict() | {"output": "trust-logs", "events": self.n_events, "sellers": self.n_sellers,
                                    "subjects": self.n_subjects}

    def __str__(self) -> str:
        head, *rest = super().__str__().splitlines()
        head = (f"import {self.source} with map {self.map}: {self.n_rows} rows, {self.n_events} imported as "
                f"events of {self.n_sellers} sellers" + (f" ({self.n_subjects} subjects)" if self.n_subjects else "")
                + f", {self.n_decisions} with a decision; {self.n_excluded} not imported")
        return "\n".join([head, *rest])


def import_trust_logs(frame: pd.DataFrame, spec: ImportMap, source: str = "data"):
    """Apply a trust-logs map: ``(events, sellers, report)``. ``sellers`` is the seller table
    (``seller, subject``) when the map gives a subject, else None. Row numbers in errors and
    in the report are 1-based data rows of the source."""
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    rows = np.arange(1, len(frame) + 1)
    report = TrustLogReport(source=source, map=spec.path, n_rows=len(frame), n_possible=len(frame))
    keep = kept_rows(frame, spec, source, report, rows)
    columns = spec.decisions[0]
    events = pd.DataFrame({col: cs.build(frame) for col, cs in columns.items()}, index=frame.index)
    events["_row"] = rows
    events = _map_values(events[keep].copy(), spec, report, list(spec.values))
    for col in ("seller", "subject", "segment"):
        if col in events:
            text = events[col].astype(str).str.strip()
            blank = events[col].isna() | text.isin(["", "nan", "NaN", "None"])
            if col == "segment":               # an event outside every segment
                events[col] = text.where(~blank, None)
                continue
            report.exclude(f"{col} is blank", events.loc[blank, "_row"])
            events = events[~blank].copy()
            events[col] = text[~blank]
    for col in _NUMERIC:
        if col in events:
            events[col] = numeric_column(events[col], events["_row"], col, source).astype(float)
    checks = [("time", events["time"].isna(), "time is blank"),
              ("feedback", ~events["feedback"].isin([0.0, 1.0]), "feedback is not 0 or 1")]
    if "followed" in events:
        checks.append(("followed", events["followed"].notna() & ~events["followed"].isin([0.0, 1.0]),
                       "followed is not 0, 1 or blank"))
    if "fidelity" in events:
        checks.append(("fidelity", events["fidelity"].notna() & ~events["fidelity"].between(0.0, 1.0),
                       "fidelity is outside [0, 1]"))
        checks.append(("fidelity", (events["feedback"] == 1) & events["fidelity"].isna(),
                       "feedback without a fidelity"))
    for _, bad, reason in checks:
        bad = bad.reindex(events.index, fill_value=False)
        report.exclude(reason, events.loc[bad, "_row"])
        events = events[~bad]
    twice = events.duplicated(["seller", "time"], keep=False)
    if twice.any():
        first = events[twice].sort_values(["seller", "time"]).head(2)
        raise MapError(f"{source}: rows {', '.join(str(r) for r in first['_row'])} are two events of seller "
                       f"{shown_value(first['seller'].iloc[0])} at time {first['time'].iloc[0]:g}; {int(twice.sum())} rows "
                       f"share a seller and a time (the map's seller or time column does not tell them apart)")
    sellers = None
    if "subject" in events:
        per_seller = events.groupby("seller")["subject"].nunique()
        if (per_seller > 1).any():
            seller = per_seller.index[per_seller > 1][0]
            shown = events.loc[events["seller"] == seller, ["_row", "subject"]].drop_duplicates("subject").head(2)
            raise MapError(f"{source}: seller {seller!r} has subject {shown_value(shown['subject'].iloc[0])} in row "
                           f"{shown['_row'].iloc[0]} and {shown_value(shown['subject'].iloc[1])} in row {shown['_row'].iloc[1]}; "
                           f"a seller belongs to one subject")
        sellers = events.drop_duplicates("seller")[["seller", "subject"]].reset_index(drop=True)
        events = events.drop(columns="subject")
    events = events.sort_values(["seller", "time"], kind="stable").reset_index(drop=True)
    report.n_events = int(len(events))
    report.n_imported_rows = report.n_events
    report.n_sellers = int(events["seller"].nunique())
    report.n_subjects = int(sellers["subject"].nunique()) if sellers is not None else 0
    decision = "followed" if "followed" in events else "action"
    report.n_decisions = int(events[decision].notna().sum())
    if not report.n_events:
        raise MapError(f"{source}: no row could be imported as an event ({report.n_excluded} not imported)\n{report}")
    return events.drop(columns="_row"), sellers, report


def write_trust_logs(events: pd.DataFrame, sellers: pd.DataFrame | None, out: str | Path,
                     meta: dict | None = None) -> Path:
    """Write imported trust logs as a directory (``events/``, ``sellers.parquet``,
    ``schema.json``). ``out`` must be new or an empty folder: logs are never mixed with
    other files, and nothing is overwritten."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MapError(f"{out}: trust logs are written to a new or empty folder, and this "
                       f"{'folder is not empty' if out.is_dir() else 'is a file'}; choose another -o")
    if out.suffix.lower() in (".csv", ".parquet", ".tsv"):
        raise MapError(f"{out}: trust logs are a folder (events/, sellers.parquet), not a {out.suffix} file; "
                       f"give a folder name to -o")
    table = events.copy()
    whole = table["time"].dropna()
    if len(whole) and np.all(whole == np.round(whole)) and np.all(np.abs(whole) < 2 ** 53):
        table["time"] = table["time"].astype("int64")
    if "feedback" in table:
        table["feedback"] = table["feedback"].astype("int8")
    (out / "events").mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "events" / "part-00000.parquet", index=False)
    if sellers is not None:
        sellers.to_parquet(out / "sellers.parquet", index=False)
    adoption = "binary" if "followed" in events else "continuous"
    (out / "schema.json").write_text(json.dumps({"adoption": adoption, **(meta or {})}, indent=2))
    return out
