"""Convert oTree's standard exports of the experiment apps into the long format.

oTree writes two wide layouts: ``all_apps_wide`` (one row per participant, columns such as
``forecast_sharing.3.group.report``) and the per-app CSV (one row per participant and
round, columns such as ``group.report``). Both carry everything the long format needs:

===================  ======================  ====================
long format          forecast_sharing        sender_receiver
===================  ======================  ====================
state                group.forecast          group.state
message              group.report            group.message
action               group.capacity          group.action
timeout (sender)     group.report_is_default group.message_is_default
timeout (receiver)   group.capacity_is_default group.action_is_default
===================  ======================  ====================

``subject`` is the participant code, ``pair`` names the matched pair of that round
(``SESSION-rROUND-gGROUP``), ``treatment`` comes from ``subsession.treatment``.
Rows that carry no decision (rounds beyond the session's ``num_rounds``, rounds a
participant never reached) are counted by reason in the :class:`ImportReport`, never
dropped silently; values that are not numbers stop the import with the file, row and
column named.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.longformat import DataFormatError
from .lab import LONG_COLUMNS

__all__ = ["APPS", "AppFields", "ImportReport", "import_otree"]


@dataclass(frozen=True)
class AppFields:
    """Where an app keeps the decisions of one round."""

    state: str
    message: str
    action: str
    sender_default: str
    receiver_default: str
    sender_role: str
    receiver_role: str
    signature: str          # a group field only this app has (identifies a per-app CSV)


APPS = {
    "forecast_sharing": AppFields("forecast", "report", "capacity", "report_is_default",
                                  "capacity_is_default", "Manufacturer", "Supplier", "forecast"),
    "sender_receiver": AppFields("state", "message", "action", "message_is_default",
                                 "action_is_default", "Sender", "Receiver", "state_index"),
}

_WIDE = re.compile(r"^(?P<app>\w+)\.(?P<round>\d+)\.(?P<model>player|group|subsession)\.(?P<field>\w+)$")
_TRUE = {"1", "true", "True", "TRUE"}
_FALSE = {"0", "false", "False", "FALSE", ""}


@dataclass
class ImportReport:
    """What an import read, wrote and left out (and why)."""

    source: str
    layout: str                      # "all_apps_wide", "per_app" or "long"
    app: str
    n_decisions: int = 0
    n_sender: int = 0
    n_receiver: int = 0
    n_subjects: int = 0
    n_sessions: int = 0
    n_timeouts: int = 0
    skipped: dict = field(default_factory=dict)    # reason -> number of participant-rounds

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.layout} export of {self.app}",
                 f"  {self.n_decisions} decisions ({self.n_sender} sender, {self.n_receiver} receiver) "
                 f"by {self.n_subjects} subjects in {self.n_sessions} session(s)",
                 f"  {self.n_timeouts} default decision(s) after a timeout, flagged timeout=1"]
        if self.skipped:
            lines.append("  participant-rounds without a decision (not written):")
            lines += [f"    {n} {reason}" for reason, n in self.skipped.items()]
        return "\n".join(lines)


def import_otree(path: str | Path, app: str | None = None) -> tuple[pd.DataFrame, ImportReport]:
    """Read an oTree export (all_apps_wide, per-app or custom long) and return long-format rows."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not a readable CSV file ({exc})") from None
    if app is not None and app not in APPS:
        raise DataFormatError(f"{path}: unknown app {app!r}; the importer knows {list(APPS)}")
    if set(LONG_COLUMNS) <= set(raw.columns):
        return _from_long(raw, path)
    if "participant.code" not in raw.columns:
        raise DataFormatError(f"{path}: not an oTree export (no 'participant.code' column); expected "
                              "all_apps_wide.csv, an app's CSV, or the apps' custom export")
    if any(_WIDE.match(c) for c in raw.columns):
        rounds, app = _unstack_wide(raw, path, app)
        layout = "all_apps_wide"
    else:
        app = app or _detect_app(raw, path)
        rounds = raw.assign(_row=np.arange(1, len(raw) + 1))
        rounds.attrs["column_of"] = {c: c for c in raw.columns}
        layout = "per_app"
    return _to_long(rounds, path, app, layout)


def _detect_app(raw: pd.DataFrame, path: Path) -> str:
    found = [name for name, f in APPS.items() if f"group.{f.signature}" in raw.columns]
    if len(found) != 1:
        raise DataFormatError(f"{path}: cannot tell which app this per-app export is from "
                              f"(looked for group.forecast or group.state_index); pass --app")
    return found[0]


def _unstack_wide(raw: pd.DataFrame, path: Path, app: str | None):
    """all_apps_wide -> one row per participant and round of one app."""
    by_app: dict[str, dict[int, dict[str, str]]] = {}
    for column in raw.columns:
        m = _WIDE.match(column)
        if m and m["app"] in APPS:
            by_app.setdefault(m["app"], {}).setdefault(int(m["round"]), {})[f"{m['model']}.{m['field']}"] = column
    if app is None:
        # apps whose decision columns hold any data
        used = [a for a, rounds in by_app.items()
                if any((raw[cols[f"group.{APPS[a].message}"]] != "").any()
                       for cols in rounds.values() if f"group.{APPS[a].message}" in cols)]
        if len(used) > 1:
            raise DataFormatError(f"{path}: holds data of several apps {used}; choose one with --app "
                                  "(a forecast game and a finite game cannot be fitted together)")
        if not used:
            raise DataFormatError(f"{path}: no decisions of the apps {list(APPS)} in this file")
        app = used[0]
    if app not in by_app:
        raise DataFormatError(f"{path}: no columns of app {app!r}")
    frames = []
    for round_number, columns in sorted(by_app[app].items()):
        part = raw[list(columns.values())].copy()
        part.columns = list(columns.keys())
        part["participant.code"] = raw["participant.code"]
        part["session.code"] = raw.get("session.code", "")
        part["subsession.round_number"] = part.get("subsession.round_number", str(round_number))
        part["_row"] = np.arange(1, len(raw) + 1)
        part.attrs["column_of"] = {**columns, "participant.code": "participant.code",
                                   "session.code": "session.code"}
        frames.append(part)
    rounds = pd.concat(frames, ignore_index=True)
    rounds.attrs["column_of"] = {k: re.sub(r"\.1\.", ".ROUND.", v, count=1)
                                 for k, v in frames[0].attrs["column_of"].items()}
    return rounds, app


def _to_long(rounds: pd.DataFrame, path: Path, app: str, layout: str):
    fields = APPS[app]
    column_of = rounds.attrs.get("column_of", {})
    report = ImportReport(source=str(path), layout=layout, app=app)

    def need(name):
        if name not in rounds.columns:
            raise DataFormatError(f"{path}: missing column {column_of.get(name, name)!r} of the {app} app")

    for name in ("participant.code", f"group.{fields.state}", f"group.{fields.message}",
                 f"group.{fields.action}", "group.id_in_subsession"):
        need(name)

    def where(i, name):
        col = column_of.get(name, name)
        rnd = rounds.at[i, "subsession.round_number"] if "subsession.round_number" in rounds else "?"
        return f"{path}: row {rounds.at[i, '_row']}, column {col.replace('ROUND', str(rnd))!r}"

    def number(i, name):
        text = str(rounds.at[i, name]).strip()
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise DataFormatError(f"{where(i, name)}: {text!r} is not a number") from None
        if not np.isfinite(value):
            raise DataFormatError(f"{where(i, name)}: {text!r} is not a finite number")
        return value

    def flag(i, name):
        if name not in rounds.columns:
            return False
        text = str(rounds.at[i, name]).strip()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise DataFormatError(f"{where(i, name)}: {text!r} is not a yes/no flag (1/0)")

    def skip(reason):
        report.skipped[reason] = report.skipped.get(reason, 0) + 1

    out = []
    for i in rounds.index:
        if "subsession.played" in rounds.columns and not flag(i, "subsession.played"):
            skip("rounds beyond the session's num_rounds (not played)")
            continue
        role_text = str(rounds.at[i, "player.role"]).strip() if "player.role" in rounds.columns else ""
        if not role_text and "player.id_in_group" in rounds.columns:
            id_text = str(rounds.at[i, "player.id_in_group"]).strip()
            role_text = {"1": fields.sender_role, "2": fields.receiver_role}.get(id_text, "")
        if role_text == "":
            skip("rows without a role (participant not assigned to this round)")
            continue
        if role_text not in (fields.sender_role, fields.receiver_role):
            raise DataFormatError(f"{where(i, 'player.role')}: role {role_text!r} is neither "
                                  f"{fields.sender_role!r} nor {fields.receiver_role!r}")
        is_sender = role_text == fields.sender_role
        state = number(i, f"group.{fields.state}")
        message = number(i, f"group.{fields.message}")
        action = number(i, f"group.{fields.action}")
        if message is None or (not is_sender and action is None):
            skip("rounds a participant did not complete (no decision recorded)")
            continue
        session = str(rounds.at[i, "session.code"]) if "session.code" in rounds.columns else ""
        round_number = int(number(i, "subsession.round_number")) if "subsession.round_number" in rounds else 0
        group = str(rounds.at[i, "group.id_in_subsession"]).strip()
        timeout = flag(i, f"group.{fields.sender_default if is_sender else fields.receiver_default}")
        out.append([session, str(rounds.at[i, "participant.code"]), "sender" if is_sender else "receiver",
                    round_number, state, message, None if is_sender else action,
                    f"{session}-r{round_number}-g{group}",
                    str(rounds.at[i, "subsession.treatment"]) if "subsession.treatment" in rounds else "",
                    int(timeout)])
    frame = pd.DataFrame(out, columns=list(LONG_COLUMNS))
    frame = frame.sort_values(["session", "round", "pair", "role"], kind="stable", ignore_index=True)
    frame["action"] = frame["action"].astype(float)
    _fill_counts(report, frame)
    return frame, report


def _from_long(raw: pd.DataFrame, path: Path):
    """The apps' custom export is already long: check its values and pass it through."""
    report = ImportReport(source=str(path), layout="long", app="custom_export")
    frame = raw[list(LONG_COLUMNS)].copy()
    for column in ("round", "state", "message", "action", "timeout"):
        values = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
        bad = frame[column].ne("") & values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise DataFormatError(f"{path}: row {row}, column {column!r}: "
                                  f"{frame[column].iloc[row - 1]!r} is not a number")
        frame[column] = values
    roles = set(frame["role"]) - {"sender", "receiver"}
    if roles:
        row = int(np.flatnonzero(~frame["role"].isin(["sender", "receiver"]).to_numpy())[0]) + 1
        raise DataFormatError(f"{path}: row {row}, column 'role': {frame['role'].iloc[row - 1]!r} "
                              "is neither 'sender' nor 'receiver'")
    frame["round"] = frame["round"].astype(int)
    frame["timeout"] = frame["timeout"].fillna(0).astype(int)
    _fill_counts(report, frame)
    return frame, report


def _fill_counts(report: ImportReport, frame: pd.DataFrame) -> None:
    report.n_decisions = len(frame)
    report.n_sender = int((frame["role"] == "sender").sum())
    report.n_receiver = int((frame["role"] == "receiver").sum())
    report.n_subjects = int(frame["subject"].nunique())
    report.n_sessions = int(frame["session"].nunique())
    report.n_timeouts = int(frame["timeout"].sum())
