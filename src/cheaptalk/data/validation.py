"""Cleaning lab data before estimation: every unused row is counted and explained.

Real experiment exports are messy. :func:`clean_decisions` takes a long-format frame (see
:mod:`cheaptalk.data.longformat`) and the game it was played in and returns the decisions a
likelihood can use, plus a :class:`CleaningReport` that says what happened to every other row.

Rules (each one is deliberate; ``docs/estimation.md`` explains why):

* **Errors** (:class:`DataFormatError`, naming file, row and column): an unknown role, a
  missing subject or round, a non-numeric value, a message outside the message space, a
  state outside the state space, an action outside the action space by more than half a grid
  step, a negative capacity, a treatment the game file lacks, the same decision twice.
* **Timeouts, dropped and counted**: rows flagged in a ``timeout`` column; rows whose own
  choice (the sender's message, the receiver's action) is missing; a choice equal to the
  timeout code (0 by default) where 0 is not a legal choice (platforms write 0 for "no
  answer"). A capacity of 0 *is* legal in forecast sharing and is kept, but counted.
* **Unusable, dropped and counted**: sender rows without the state she saw; receiver rows
  without the message he saw; actions exactly half way between two grid points (there is no
  honest way to decide which one was meant); subjects left with fewer than ``min_rounds``
  usable decisions in a role.
* **Repaired and counted**: finite-game actions off the grid but within half a step of a
  grid point are snapped to it (a guess of 4.4 on a 1..7 grid is read as 4); capacities above
  the largest possible demand are set to it (the likelihood censors there anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .longformat import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROLES, DataFormatError

__all__ = ["clean_decisions", "CleaningReport", "DataFormatError", "cell_error", "numeric_column", "timeout_flags"]

MAX_ROUND = 1_000_000_000
_TRUE_STRINGS = {"1", "true", "yes", "y", "t", "timeout"}
_FALSE_STRINGS = {"0", "false", "no", "n", "f", "", "nan", "none"}


@dataclass
class CleaningReport:
    """What :func:`clean_decisions` did: rows in, rows used, and every other row by reason."""

    source: str
    n_rows: int = 0
    n_used: int = 0
    dropped: dict = field(default_factory=dict)   # reason -> list of 1-based row numbers
    repaired: dict = field(default_factory=dict)  # reason -> list of 1-based row numbers
    notes: list = field(default_factory=list)
    by_role: dict = field(default_factory=dict)   # role -> {"rows", "subjects"} used

    @property
    def n_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def _add(self, where: dict, reason: str, rows) -> None:
        rows = [int(r) for r in rows]
        if rows:
            where.setdefault(reason, []).extend(rows)

    def to_dict(self) -> dict:
        return {"source": self.source, "rows": self.n_rows, "used": self.n_used,
                "dropped": {k: len(v) for k, v in self.dropped.items()},
                "repaired": {k: len(v) for k, v in self.repaired.items()},
                "dropped_rows": {k: v[:20] for k, v in self.dropped.items()},
                "repaired_rows": {k: v[:20] for k, v in self.repaired.items()},
                "by_role": self.by_role, "notes": list(self.notes)}

    def __str__(self) -> str:
        lines = [f"data {self.source}: {self.n_rows} rows, {self.n_used} used, {self.n_dropped} not used"]
        for role, d in self.by_role.items():
            lines.append(f"  {role}: {d['rows']} decisions by {d['subjects']} subjects")
        for title, table in (("not used", self.dropped), ("repaired", self.repaired)):
            for reason, rows in table.items():
                shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
                lines.append(f"  {title}: {len(rows):>5}  {reason} (rows {shown})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def cell_error(source: str, row: int, column: str, message: str):
    """Raise the error that names the file, the row and the column of a bad cell."""
    raise DataFormatError(f"{source}: row {row}, column '{column}': {message}")


def numeric_column(frame: pd.DataFrame, column: str, source: str, rows: np.ndarray) -> np.ndarray:
    """Column as floats; empty cells become NaN, anything else that is not a number is an error."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = raw.astype("string").str.strip()
    bad = np.isnan(values) & raw.notna().to_numpy() & (text.fillna("").str.len() > 0).to_numpy() \
        & ~text.fillna("").str.lower().isin(["nan", "na", "none", "null"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], column, f"{shown_value(raw.iloc[i])} is not a number")
    inf = np.isinf(values)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        cell_error(source, rows[i], column, f"{shown_value(raw.iloc[i])} is not a finite number")
    return values


def timeout_flags(frame: pd.DataFrame, source: str, rows: np.ndarray) -> np.ndarray:
    """The ``timeout`` column as booleans (False without the column); other values are errors."""
    if "timeout" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    text = frame["timeout"].astype("string").str.strip().str.lower().fillna("")
    text = text.str.replace(r"\.0$", "", regex=True)
    flagged = text.isin(_TRUE_STRINGS).to_numpy()
    unknown = ~(flagged | text.isin(_FALSE_STRINGS).to_numpy())
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        cell_error(source, rows[i], "timeout", f"{shown_value(frame['timeout'].iloc[i])} is not a flag (use 1/0 or true/false)")
    return flagged


def _grid_step(grid: np.ndarray) -> np.ndarray:
    """Half the distance to the nearest neighbour of each grid point, on each side."""
    grid = np.asarray(grid, float)
    gaps = np.diff(grid)
    left = np.concatenate([[gaps[0] if gaps.size else 1.0], gaps])
    right = np.concatenate([gaps, [gaps[-1] if gaps.size else 1.0]])
    return left, right


def _snap(values: np.ndarray, grid: np.ndarray):
    """Nearest grid point of each value; flags for exact hits, snapped, ties and out of reach."""
    grid = np.sort(np.asarray(grid, float))
    idx = np.clip(np.searchsorted(grid, values), 0, len(grid) - 1)
    below = np.clip(idx - 1, 0, len(grid) - 1)
    d_hi = np.abs(grid[idx] - values)
    d_lo = np.abs(grid[below] - values)
    nearest = np.where(d_lo <= d_hi, below, idx)
    dist = np.minimum(d_lo, d_hi)
    left, right = _grid_step(grid)
    half = np.where(values < grid[nearest], left[nearest], right[nearest]) / 2.0
    tol = 1e-9 * max(1.0, float(np.ptp(grid)))
    exact = dist <= tol
    tie = (np.abs(d_lo - d_hi) <= tol) & (idx != below) & ~exact
    within = (dist < half - tol) & ~exact & ~tie
    return grid[nearest], exact, within, tie


def clean_decisions(frame: pd.DataFrame, game_spec, source: str | None = None, *,
                    min_rounds: int = 5, timeout_code: float | None = 0.0):
    """Validate and clean long-format decisions for estimation on ``game_spec``.

    Returns ``(clean_frame, report)``. ``clean_frame`` has the columns
    ``subject, role, round, state, message, action, treatment`` (plus ``session`` and
    ``pair`` when present) with normalized types; ``report`` is a :class:`CleaningReport`.
    Row numbers are 1-based data rows (a CSV's header is row 0), as in
    :func:`cheaptalk.data.read_decisions`.

    ``min_rounds``: subjects with fewer usable decisions in a role are dropped (counted).
    ``timeout_code``: a choice equal to this value where it is not a legal choice is read as
    a timeout (None disables this rule).
    """
    source = source or frame.attrs.get("source", "<data>")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{source}: missing column(s) {missing}; the long format needs "
                              f"{list(REQUIRED_COLUMNS)} (optional {list(OPTIONAL_COLUMNS)})")
    report = CleaningReport(source=str(source), n_rows=len(frame))
    frame = frame.reset_index(drop=True)
    rows = np.arange(1, len(frame) + 1)

    # --- identifiers -----------------------------------------------------------------
    for col in ("subject", "role", "round"):
        empty = frame[col].isna().to_numpy() | (frame[col].astype("string").str.strip() == "").fillna(True).to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            cell_error(source, rows[i], col, "is empty")
    role = frame["role"].astype("string").str.strip().str.lower().to_numpy(dtype=object)
    unknown = ~np.isin(role, ROLES)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        cell_error(source, rows[i], "role", f"unknown role {shown_value(frame['role'].iloc[i])}; roles are {list(ROLES)}")
    for col in ("round", "state", "message", "action"):
        kind = frame[col].dtype.kind
        if kind in "mM":          # a date or a duration is not a number of this game
            cell_error(source, rows[0], col, f"holds dates or times ({frame[col].dtype}), not numbers")
    rounds = numeric_column(frame, "round", source, rows)
    not_int = np.abs(rounds - np.round(rounds)) > 1e-9
    if not_int.any():
        i = int(np.flatnonzero(not_int)[0])
        cell_error(source, rows[i], "round", f"{shown_value(frame['round'].iloc[i])} is not a whole number")
    out_of_range = (rounds < 0) | (rounds > MAX_ROUND)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        cell_error(source, rows[i], "round", f"{shown_value(frame['round'].iloc[i])} is not a round number from 0 to {MAX_ROUND:,}")
    state = numeric_column(frame, "state", source, rows)
    message = numeric_column(frame, "message", source, rows)
    action = numeric_column(frame, "action", source, rows)
    timeout = timeout_flags(frame, source, rows)

    out = pd.DataFrame({"subject": frame["subject"].astype("string").str.strip().astype(str).to_numpy(),
                        "role": role.astype(str), "round": np.round(rounds).astype(int),
                        "state": state, "message": message, "action": action})
    for col in ("session", "pair"):
        if col in frame.columns:
            out[col] = frame[col].astype("string").str.strip().fillna("").astype(str).to_numpy()

    # --- treatments: game parameters per treatment come from the game file --------------
    treatments = list(game_spec.treatments)
    if "treatment" in frame.columns:
        tr = frame["treatment"].astype("string").str.strip()
        empty = tr.isna() | (tr == "")
        if empty.any():
            if len(treatments) == 1:
                tr = tr.fillna(treatments[0]).replace("", treatments[0])
            else:
                i = int(np.flatnonzero(empty.to_numpy())[0])
                cell_error(source, rows[i], "treatment", f"is empty; game {game_spec.name!r} has treatments {treatments}")
        tr = tr.astype(str).to_numpy()
        bad = ~np.isin(tr, treatments)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell_error(source, rows[i], "treatment",
                  f"treatment {tr[i]!r} is not in game {game_spec.name!r} ({game_spec.source}); "
                  f"its treatments are {treatments}")
    elif len(treatments) == 1:
        tr = np.full(len(frame), treatments[0], dtype=object)
    else:
        raise DataFormatError(f"{source}: no 'treatment' column, but game {game_spec.name!r} has "
                              f"treatments {treatments}; add a treatment column naming each row's treatment")
    out["treatment"] = np.asarray(tr, dtype=str)

    # --- duplicated decisions ---------------------------------------------------------
    key = ["subject", "role", "round", "treatment"] + (["session"] if "session" in out.columns else [])
    dup = out.duplicated(subset=key, keep=False).to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        same = out[key].iloc[first]
        others = np.flatnonzero(dup & (out[key] == same).all(axis=1).to_numpy())
        cell_error(source, rows[others[1]], "round",
              f"duplicated decision: {dict(same)} appears in rows {[int(rows[j]) for j in others]}")

    sender = out["role"].to_numpy() == "sender"
    receiver = ~sender
    keep = np.ones(len(out), dtype=bool)

    def drop(mask, reason):
        mask = mask & keep
        report._add(report.dropped, reason, rows[mask])
        keep[mask] = False

    drop(timeout, "timeout (flagged in the timeout column)")
    drop(sender & np.isnan(message), "timeout (sender's message missing)")
    drop(receiver & np.isnan(action), "timeout (receiver's action missing)")
    drop(sender & np.isnan(state), "sender row without the state she saw")
    drop(receiver & np.isnan(message), "receiver row without the message he saw")

    treat = out["treatment"].to_numpy()
    for tname in np.unique(treat):
        game = game_spec.game(tname)
        in_t = (treat == tname) & keep
        if game.kind == "forecast":
            _check_forecast(game, out, in_t, sender, receiver, rows, source, report, drop, keep, timeout_code)
        else:
            _check_finite(game, out, in_t, sender, receiver, rows, source, report, drop, keep, timeout_code)

    # --- subjects with too few usable rounds -------------------------------------------
    if min_rounds > 1:
        subj = out["subject"].astype(str)
        if "session" in out.columns:
            subj = out["session"].astype(str) + "/" + subj
        ident = (subj + "|" + out["role"]).to_numpy()
        counts = pd.Series(ident[keep]).value_counts()
        few = counts.index[counts < min_rounds]
        if len(few):
            drop(np.isin(ident, few), f"subject with fewer than {min_rounds} usable decisions in the role")
            report.notes.append(f"{len(few)} subject-role panel(s) had fewer than {min_rounds} usable decisions")

    clean = out[keep].reset_index(drop=True)
    report.n_used = len(clean)
    for r in ROLES:
        part = clean[clean["role"] == r]
        if len(part):
            ids = part["subject"] if "session" not in part else part["session"] + "/" + part["subject"]
            report.by_role[r] = {"rows": int(len(part)), "subjects": int(ids.nunique())}
    if clean.empty:
        raise DataFormatError(f"{source}: no usable decisions left after cleaning\n{report}")
    clean.attrs["source"] = str(source)
    return clean, report


def _out_of_range(values, low, high, tol):
    return (values < low - tol) | (values > high + tol)


def _check_forecast(game, out, in_t, sender, receiver, rows, source, report, drop, keep, timeout_code):
    lo, hi = game.message_range
    tol = 1e-9 * (hi - lo)
    msg = out["message"].to_numpy()
    act = out["action"].to_numpy()
    state = out["state"].to_numpy()
    # timeout code: a 0 report is not a legal report when the message space excludes 0
    if timeout_code is not None and not (lo - tol <= timeout_code <= hi + tol):
        drop(in_t & sender & (msg == timeout_code), f"timeout (report coded {timeout_code:g})")
    kmin, kmax = game.capacity_range
    if timeout_code is not None and timeout_code == 0:
        zero = in_t & receiver & keep & (act == 0)
        if zero.any():
            report._add(report.repaired, "capacity 0 kept as a real choice (flag timeouts in a 'timeout' column)",
                        rows[zero])
    live = in_t & keep
    bad = live & _out_of_range(msg, lo, hi, tol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "message", f"{msg[i]:g} is outside the message space [{lo:g}, {hi:g}] "
                                          f"of treatment {shown_value(out['treatment'].iloc[i])}")
    flo, fhi = game.forecast_range
    ftol = 1e-9 * (fhi - flo)
    bad = live & ~np.isnan(state) & _out_of_range(state, flo, fhi, ftol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "state", f"forecast {state[i]:g} is outside its support [{flo:g}, {fhi:g}] "
                                        f"in treatment {shown_value(out['treatment'].iloc[i])}")
    bad = live & receiver & (act < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "action", f"capacity {act[i]:g} is negative")
    above = live & receiver & (act > kmax)
    if above.any():
        out.loc[above, "action"] = kmax
        report._add(report.repaired, "capacity above the largest possible demand, set to it", rows[above])


def _check_finite(game, out, in_t, sender, receiver, rows, source, report, drop, keep, timeout_code):
    msg_values = np.unique(game.message_values)
    for col, grid, what in (("message", msg_values, "message"), ("state", game.states, "state")):
        values = out[col].to_numpy()
        legal_code = timeout_code is not None and np.any(np.isclose(grid, timeout_code))
        if col == "message" and timeout_code is not None and not legal_code:
            drop(in_t & sender & (values == timeout_code), f"timeout (message coded {timeout_code:g})")
        live = in_t & keep & ~np.isnan(values)
        _, exact, _, _ = _snap(values[live], grid)
        if not exact.all():
            i = int(np.flatnonzero(live)[np.flatnonzero(~exact)[0]])
            cell_error(source, rows[i], col, f"{values[i]:g} is not a {what} of treatment "
                                        f"{shown_value(out['treatment'].iloc[i])}; valid are {np.asarray(grid).tolist()}")
    actions = np.sort(game.actions)
    act = out["action"].to_numpy()
    if timeout_code is not None and not np.any(np.isclose(actions, timeout_code)):
        drop(in_t & receiver & (act == timeout_code), f"timeout (action coded {timeout_code:g})")
    live = in_t & keep & receiver
    idx = np.flatnonzero(live)
    snapped, exact, within, tie = _snap(act[idx], actions)
    far = ~(exact | within | tie)
    if far.any():
        i = int(idx[np.flatnonzero(far)[0]])
        cell_error(source, rows[i], "action", f"{act[i]:g} is outside the action space of treatment "
                                         f"{shown_value(out['treatment'].iloc[i])} (grid {actions.min():g}..{actions.max():g}, "
                                         f"{len(actions)} points) by more than half a grid step")
    tie_mask = np.zeros(len(out), dtype=bool)
    tie_mask[idx[tie]] = True
    drop(tie_mask, "action half way between two grid points (ambiguous)")
    snap_rows = idx[within]
    if snap_rows.size:
        out.loc[snap_rows, "action"] = snapped[within]
        report._add(report.repaired, "action off the grid, snapped to the nearest grid point "
                                     "(within half a step)", rows[snap_rows])


def shown_value(value) -> str:
    """A data value as a message shows it: ``1e+19``, ``'abc'`` (not ``np.float64(1e+19)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."
