"""From a repeated-partners forecast-sharing session to recommendation logs.

In a partners session of the oTree app ``forecast_sharing`` a supplier meets the same
manufacturer in every round: she reads the manufacturer's report, builds capacity, and
(with feedback on) sees the true forecast afterwards. That is the setting of the dynamic
trust model (docs/models.md, section 6), with the supplier as the "seller" and the report as the
"recommendation". This module turns the long-format decisions of such a session into the
recommendation-log schema of :mod:`cheaptalk.dynamics.logs`:

==================  ==================================================================
log column          from the session
==================  ==================================================================
``seller``          the supplier (participant code)
``time``            the round
``recommendation``  the report ``m_t`` the partner sent
``truth``           the partner's forecast ``xi_t``: what the report is about, and what
                    the results page shows the supplier after the round
``feedback``        1 if the session showed the results after that round
``action``          ``K_t - z*``: the forecast for which the capacity ``K_t`` is the
                    newsvendor choice (empty for a capacity recorded as a timeout default)
``own_estimate``    ``K_0 - z*`` with ``K_0 = F_D^-1(rho)``, the babbling capacity: the same
                    mapping applied to the capacity built with no report
``segment``         the treatment
==================  ==================================================================

With these, the model's adoption rule ``a_t = alpha_t m_t + (1 - alpha_t) own`` reads
``K_t = alpha_t (m_t + z*) + (1 - alpha_t) K_0``: the capacity is a trust-weighted average
of the credulous capacity and the babbling one (docs/dynamics.md, "From a partners
experiment", derives it and states its limits).

Strangers sessions are refused (trust in a partner who changes every round is not a trust
path) unless explicitly allowed. Nothing is dropped silently: :class:`ConversionReport`
counts every supplier-round that is written, written in part, or left out, and why.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, StrangersError
from ..data.longformat import REQUIRED_COLUMNS, DataFormatError, read_decisions
from ..data.validation import cell_error, numeric_column, timeout_flags
from ..games import ForecastGame
from ..data.validation import shown_value

__all__ = ["ExperimentData", "ConversionReport", "StrangersError", "read_experiment",
           "supplier_mapping", "capacity_to_forecast", "experiment_to_logs", "write_trust_logs"]

APP = "forecast_sharing"
_TRUE = {"1", "true", "yes", "1.0"}
_FALSE = {"0", "false", "no", "0.0"}


# --------------------------------------------------------------------------------------
# reading: the long format, or an oTree export (which also says how the session was run)


@dataclass
class ExperimentData:
    """Decisions in the long format plus what the export says about each session.

    ``matching``: session -> ``"partners"``/``"strangers"``; ``feedback``:
    ``(session, round)`` -> whether results were shown after that round. Both are empty
    for a long-format file, which does not record them.
    """

    decisions: pd.DataFrame
    source: str
    layout: str
    matching: dict = field(default_factory=dict)
    feedback: dict = field(default_factory=dict)


def read_experiment(path: str | Path) -> ExperimentData:
    """Read decisions from the long format (.csv/.parquet, e.g. the app's custom export) or
    from oTree's wide or per-app export of ``forecast_sharing``, which also records the
    session's matching and feedback settings."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return ExperimentData(read_decisions(path), str(path), "long")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataFormatError(f"{path}: not a readable CSV file ({exc})") from None
    if "participant.code" not in header:
        if not set(REQUIRED_COLUMNS) <= set(header):
            raise DataFormatError(f"{path}: neither the long format (columns {list(REQUIRED_COLUMNS)}) "
                                  "nor an oTree export (no 'participant.code' column)")
        return ExperimentData(read_decisions(path), str(path), "long")
    from ..experiments.otree_import import import_otree
    decisions, report = import_otree(path, app=APP)
    decisions.attrs["source"] = str(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    matching, feedback = _session_settings(raw, path)
    return ExperimentData(decisions, str(path), report.layout, matching, feedback)


_WIDE_SETTING = re.compile(rf"^{APP}\.(\d+)\.subsession\.(matching|feedback|played)$")


def _session_settings(raw: pd.DataFrame, path: Path):
    """Matching per session and feedback per (session, round) from an oTree export."""
    sessions = raw["session.code"].astype(str).str.strip() if "session.code" in raw else \
        pd.Series([""] * len(raw))
    per_round = {}   # round -> {"matching": col, "feedback": col, "played": col}
    for column in raw.columns:
        m = _WIDE_SETTING.match(column)
        if m:
            per_round.setdefault(int(m[1]), {})[m[2]] = column
    if not per_round and "subsession.round_number" in raw:   # per-app export: one row per round
        per_round = None
    matching, feedback = {}, {}

    def note(session, rnd, kind, text):
        text = str(text).strip()
        if text == "":
            return
        if kind == "matching":
            if matching.setdefault(session, text) != text:
                raise DataFormatError(f"{path}: session {session!r} records two matchings "
                                      f"({matching[session]!r} and {text!r})")
        else:
            low = text.lower()
            if low not in _TRUE | _FALSE:
                raise DataFormatError(f"{path}: session {session!r}, round {rnd}: feedback "
                                      f"{text!r} is not 1/0")
            feedback[(session, rnd)] = low in _TRUE

    if per_round is None:
        for i in range(len(raw)):
            rnd = int(float(raw["subsession.round_number"].iloc[i]))
            if "subsession.played" in raw and raw["subsession.played"].iloc[i].strip() in _FALSE:
                continue
            for kind in ("matching", "feedback"):
                if f"subsession.{kind}" in raw:
                    note(sessions.iloc[i], rnd, kind, raw[f"subsession.{kind}"].iloc[i])
    else:
        for rnd, cols in per_round.items():
            for i in range(len(raw)):
                if "played" in cols and raw[cols["played"]].iloc[i].strip().lower() in _FALSE:
                    continue
                for kind in ("matching", "feedback"):
                    if kind in cols:
                        note(sessions.iloc[i], rnd, kind, raw[cols[kind]].iloc[i])
    # all_apps_wide also has the session config: a fallback for the matching
    if "session.config.matching" in raw:
        for s, text in zip(sessions, raw["session.config.matching"]):
            if str(text).strip():
                matching.setdefault(s, str(text).strip())
    return matching, feedback


# --------------------------------------------------------------------------------------
# the supplier's capacity on the report's scale


def supplier_mapping(game: ForecastGame) -> dict:
    """``z*``, the babbling capacity ``K_0 = F_D^-1(rho)`` and the own estimate ``K_0 - z*``
    of one treatment (the prior mean of the forecast is listed for comparison)."""
    z_star, k0 = game.z_star, game.babbling_capacity()
    return {"z_star": z_star, "babbling_capacity": k0, "own_estimate": k0 - z_star,
            "prior_mean_forecast": float(game.forecast.mean),
            "capacity_range": list(game.capacity_range)}


def capacity_to_forecast(game: ForecastGame, capacity):
    """The forecast ``b`` for which ``capacity`` is the newsvendor choice: ``K = b + z*``,
    so ``b = K - z*`` (the certainty-equivalent belief behind a capacity)."""
    return np.asarray(capacity, float) - game.z_star


# --------------------------------------------------------------------------------------
# conversion


@dataclass
class ConversionReport:
    """What the conversion read, wrote and left out (counts of supplier-rounds by reason)."""

    source: str
    layout: str
    n_rows: int = 0
    n_supplier_rows: int = 0
    n_manufacturer_rows: int = 0
    n_events: int = 0                 # supplier-rounds written
    n_decisions: int = 0              # ... of which with a usable action
    n_suppliers: int = 0
    n_sessions: int = 0
    rounds_per_supplier: list = field(default_factory=lambda: [0, 0])   # min, max
    matching: dict = field(default_factory=dict)      # session -> how the matching is known
    feedback: dict = field(default_factory=dict)      # session -> rounds with feedback, how known
    excluded: dict = field(default_factory=dict)      # reason -> supplier-rounds not written
    partly_used: dict = field(default_factory=dict)   # reason -> written with a field left empty
    noted: dict = field(default_factory=dict)         # reason -> written as they are, worth knowing
    absent: int = 0                                   # supplier-rounds missing from the data
    fidelity_scale: float = 0.0
    mapping: dict = field(default_factory=dict)       # treatment -> supplier_mapping()
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.layout} data of {self.n_sessions} session(s), "
                 f"{self.n_supplier_rows} supplier and {self.n_manufacturer_rows} manufacturer rows",
                 f"  wrote {self.n_events} events of {self.n_suppliers} suppliers "
                 f"({self.rounds_per_supplier[0]}-{self.rounds_per_supplier[1]} rounds each), "
                 f"{self.n_decisions} with a usable capacity",
                 f"  fidelity = 1 - min(1, |report - forecast| / {self.fidelity_scale:g})"]
        for s, how in self.matching.items():
            lines.append(f"  session {s}: matching {how}; results {self.feedback.get(s, '?')}")
        for t, m in self.mapping.items():
            lines.append(f"  {t}: action = capacity - z* ({m['z_star']:.4g}); own estimate = "
                         f"babbling capacity - z* = {m['own_estimate']:.4g}")
        for title, counts in (("not written", self.excluded), ("written, capacity left empty",
                              self.partly_used), ("written as recorded", self.noted)):
            for reason, n in counts.items():
                if n:
                    lines.append(f"  {title}: {n} {reason}")
        if self.absent:
            lines.append(f"  {self.absent} supplier-round(s) absent from the data (round not "
                         "completed or not exported): the supplier's path skips them")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def experiment_to_logs(data: ExperimentData, spec, *, feedback: bool | None = None,
                       allow_strangers: bool = False, fidelity_scale: float | None = None,
                       treatment: str | None = None):
    """Convert the decisions of a partners forecast-sharing session to recommendation logs.

    ``spec`` is the game (``load_game(...)``) the session played; each row's treatment
    picks its parameters. ``feedback`` says whether results were shown after rounds when the
    data do not record it (the long format does not); it must agree with the data when they
    do. ``fidelity_scale`` defaults to the width of the forecast range (the same scale as
    the static model's lying cost). Returns ``(events, report)``.
    """
    # errors name rows of the long format: the file's own rows, or for an oTree export the
    # rows `cheaptalk import-otree` would write
    source = data.source if data.layout == "long" else \
        f"{data.source} (as the long format of `cheaptalk import-otree`)"
    frame = data.decisions.reset_index(drop=True)
    if spec.kind != "forecast":
        raise DataFormatError(f"game {spec.name!r} is a {spec.kind} game; the conversion to "
                              "recommendation logs is for the forecast-sharing game (G1)")
    rows = np.arange(1, len(frame) + 1)
    report = ConversionReport(source=data.source, layout=data.layout, n_rows=len(frame))
    if len(frame) == 0:
        raise DataFormatError(f"{source}: no decisions")

    # --- columns ---------------------------------------------------------------------
    role = frame["role"].astype("string").str.strip().str.lower().fillna("").to_numpy(dtype=object)
    bad = ~np.isin(role, ["sender", "receiver"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "role", f"{shown_value(frame['role'].iloc[i])} is neither 'sender' nor 'receiver'")
    subject = frame["subject"].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    if (subject == "").any():
        cell_error(source, rows[int(np.flatnonzero(subject == "")[0])], "subject", "is empty")
    rounds = numeric_column(frame, "round", source, rows)
    bad = ~np.isfinite(rounds) | (np.abs(rounds - np.round(rounds)) > 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "round", f"{shown_value(frame['round'].iloc[i])} is not a whole number")
    rounds = np.round(rounds).astype(int)
    state = numeric_column(frame, "state", source, rows)
    message = numeric_column(frame, "message", source, rows)
    action = numeric_column(frame, "action", source, rows)
    timeout = timeout_flags(frame, source, rows)

    def text_column(name, default=""):
        if name not in frame.columns:
            return np.full(len(frame), default, dtype=object)
        return frame[name].astype("string").str.strip().fillna(default).to_numpy(dtype=object)

    session = text_column("session")
    pair = text_column("pair")
    treatments = list(spec.treatments)
    tr = text_column("treatment")
    if treatment is not None:
        spec.game(treatment)   # a clear error for an unknown name
        tr = np.where(tr == "", treatment, tr)
    elif len(treatments) == 1:
        tr = np.where(tr == "", treatments[0], tr)
    empty = tr == ""
    if empty.any():
        cell_error(source, rows[int(np.flatnonzero(empty)[0])], "treatment",
              f"is empty; game {spec.name!r} has treatments {treatments} (choose one with --treatment)")
    bad = ~np.isin(tr, treatments)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell_error(source, rows[i], "treatment", f"treatment {shown_value(tr[i])} is not in game {spec.name!r}; "
                                            f"its treatments are {treatments}")

    supplier = role == "receiver"
    report.n_supplier_rows = int(supplier.sum())
    report.n_manufacturer_rows = int((~supplier).sum())
    if not supplier.any():
        raise DataFormatError(f"{source}: no supplier (receiver) rows")

    # one row per supplier and round
    key = pd.DataFrame({"session": session, "subject": subject, "round": rounds})[supplier]
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        idx = np.flatnonzero(supplier)[dup]
        first = key.iloc[int(np.flatnonzero(dup)[0])]
        same = idx[(key[dup] == first).all(axis=1).to_numpy()]
        cell_error(source, rows[same[1]], "round", f"supplier {first['subject']!r} has more than one row "
                                              f"for round {first['round']} (rows {list(rows[same])})")

    # --- partners: the manufacturer in the supplier's pair each round ---------------------
    has_pair = "pair" in frame.columns and (pair[supplier] != "").any()
    man = pd.DataFrame({"session": session, "pair": pair, "partner": subject, "partner_message": message,
                        "partner_state": state, "partner_default": timeout})[~supplier]
    man = man[man["pair"] != ""]
    dup = man.duplicated(["session", "pair"], keep=False).to_numpy()
    if dup.any():
        idx = np.flatnonzero(~supplier)[(pair[~supplier] != "")][dup]
        cell_error(source, rows[idx[1]], "pair", f"pair {pair[idx[0]]!r} has more than one manufacturer row "
                                            f"(rows {[int(rows[i]) for i in idx[:2]]})")
    sup = pd.DataFrame({"row": rows, "session": session, "subject": subject, "round": rounds,
                        "pair": pair, "treatment": tr, "state": state, "message": message,
                        "capacity": action, "timeout": timeout})[supplier]
    sup = sup.merge(man, on=["session", "pair"], how="left") if has_pair else \
        sup.assign(partner=np.nan, partner_message=np.nan, partner_state=np.nan, partner_default=False)
    sup["partner_default"] = sup["partner_default"].fillna(False).astype(bool)

    sessions = sorted(set(sup["session"]))
    report.n_sessions = len(sessions)
    changing = sup.dropna(subset=["partner"]).groupby(["session", "subject"])["partner"].nunique()
    changing = changing[changing > 1]
    for s in sessions:
        recorded = data.matching.get(s)
        moved = int((changing.index.get_level_values("session") == s).sum()) if len(changing) else 0
        if recorded is not None:
            how = f"{recorded} (session settings)"
        elif has_pair:
            recorded = "partners" if moved == 0 else "strangers"
            how = (f"{recorded} (from the pairs: every supplier kept one manufacturer)" if moved == 0 else
                   f"{recorded} (from the pairs: {moved} supplier(s) met more than one manufacturer)")
        else:
            raise DataFormatError(f"{data.source}: session {s!r}: cannot tell whether suppliers kept their "
                                  "partner (no 'pair' column and no session settings); use the app's "
                                  "export, which has both")
        report.matching[s or "(no session code)"] = how
        if recorded != "partners" or moved:
            what = (f"session {s!r} re-matched suppliers with new manufacturers ({how})" if recorded != "partners"
                    else f"session {s!r} is recorded as partners, but {moved} supplier(s) met more "
                         "than one manufacturer")
            if not allow_strangers:
                raise StrangersError(
                    f"{data.source}: {what}. The dynamic trust model follows one receiver's trust in one "
                    "sender over time; with a new partner every round there is no such path. Use a "
                    "partners session (config forecast_LC_LU_partners or --set matching=partners), or "
                    "pass --allow-strangers to treat each supplier's trust as trust in the "
                    "manufacturers' reports in general.")
            report.warnings.append(f"{what}: converted because strangers were allowed; trust is then "
                                   "trust in the manufacturers' reports in general")

    # --- feedback per supplier-round -----------------------------------------------------
    fb = np.full(len(sup), np.nan)
    for j, (s, r) in enumerate(zip(sup["session"], sup["round"])):
        if (s, r) in data.feedback:
            fb[j] = float(data.feedback[(s, r)])
    known = np.isfinite(fb)
    if feedback is not None:
        if known.any() and (fb[known] != float(feedback)).any():
            j = int(np.flatnonzero(known & (fb != float(feedback)))[0])
            raise DataFormatError(f"{data.source}: --feedback {'yes' if feedback else 'no'} contradicts the "
                                  f"session settings (session {shown_value(sup['session'].iloc[j])}, round "
                                  f"{sup['round'].iloc[j]}: feedback {'on' if fb[j] else 'off'})")
        fb[~known] = float(feedback)
    elif not known.all():
        j = int(np.flatnonzero(~known)[0])
        raise DataFormatError(f"{data.source}: the data do not say whether the results (true forecast, "
                              f"demand) were shown after round {sup['round'].iloc[j]} of session "
                              f"{shown_value(sup['session'].iloc[j])} (the long format has no such column): "
                              "pass --feedback yes or --feedback no as the session was run")
    for s in sessions:
        in_s = (sup["session"] == s).to_numpy()
        how = "session settings" if known[in_s].all() else "--feedback"
        report.feedback[s or "(no session code)"] = (f"shown after {int(fb[in_s].sum())} of "
                                                     f"{int(in_s.sum())} supplier-rounds ({how})")

    # --- the mapping ---------------------------------------------------------------------
    maps = {t: supplier_mapping(spec.game(t)) for t in sorted(set(sup["treatment"]))}
    report.mapping = maps
    if fidelity_scale is None:
        widths = {t: float(np.diff(spec.game(t).forecast_range)[0]) for t in maps}
        if len(set(widths.values())) > 1:
            raise DataFormatError(f"the treatments' forecast ranges differ ({widths}): give one "
                                  "--fidelity-scale for all")
        fidelity_scale = next(iter(widths.values()))
    if not (np.isfinite(fidelity_scale) and fidelity_scale > 0):
        raise InputError(f"the fidelity scale must be a positive number, got {fidelity_scale}")
    report.fidelity_scale = float(fidelity_scale)
    z = sup["treatment"].map(lambda t: maps[t]["z_star"]).to_numpy(float)
    own = sup["treatment"].map(lambda t: maps[t]["own_estimate"]).to_numpy(float)
    cap_hi = sup["treatment"].map(lambda t: maps[t]["capacity_range"][1]).to_numpy(float)
    cap_lo = sup["treatment"].map(lambda t: maps[t]["capacity_range"][0]).to_numpy(float)

    # the report and forecast the supplier saw: her own row, else the partner's
    rec = sup["message"].to_numpy(float)
    from_partner = ~np.isfinite(rec) & np.isfinite(sup["partner_message"].to_numpy(float))
    rec = np.where(from_partner, sup["partner_message"].to_numpy(float), rec)
    truth = sup["state"].to_numpy(float)
    truth_from_partner = ~np.isfinite(truth) & np.isfinite(sup["partner_state"].to_numpy(float))
    truth = np.where(truth_from_partner, sup["partner_state"].to_numpy(float), truth)
    capacity = sup["capacity"].to_numpy(float)
    cap_default = sup["timeout"].to_numpy(bool)
    cap_missing = ~cap_default & ~np.isfinite(capacity)
    usable = ~cap_default & ~cap_missing
    act = np.where(usable, capacity - z, np.nan)

    write = np.isfinite(rec)
    report.excluded["supplier-rounds without the partner's report (no recommendation)"] = int((~write).sum())
    report.partly_used["capacities recorded as a timeout default (flagged), not the supplier's "
                       "choice; the round still updates trust"] = int((write & cap_default).sum())
    report.partly_used["capacities missing"] = int((write & cap_missing).sum())
    report.noted["partner's reports recorded as a timeout default (the supplier saw them as "
                 "reports)"] = int((write & sup["partner_default"].to_numpy(bool)).sum())
    report.noted["reports taken from the partner's row (empty on the supplier's row)"] = \
        int((write & from_partner).sum())
    report.noted["forecasts taken from the partner's row (empty on the supplier's row)"] = \
        int((write & truth_from_partner).sum())
    report.noted["rounds without a forecast (feedback cannot be scored)"] = \
        int((write & ~np.isfinite(truth)).sum())
    if has_pair:
        report.noted["rounds without the partner's row (partner not checked)"] = \
            int((write & sup["partner"].isna().to_numpy()).sum())
    report.noted["capacities at a bound of the capacity range (the model's error is not "
                 "censored there)"] = int((write & usable & ((capacity <= cap_lo) | (capacity >= cap_hi))).sum())
    for d in (report.excluded, report.partly_used, report.noted):
        for k in [k for k, v in d.items() if not v]:
            del d[k]

    # sellers: the supplier's code, prefixed by the session when a code recurs across sessions
    subj = sup["subject"].to_numpy(object)
    per_subject = sup.groupby("subject")["session"].nunique()
    clash = set(per_subject[per_subject > 1].index)
    seller = np.array([f"{s}/{u}" if u in clash else u for s, u in zip(sup["session"], subj)], dtype=object)
    events = pd.DataFrame({
        "seller": seller, "time": sup["round"].to_numpy(np.int64), "recommendation": rec,
        "truth": truth, "feedback": fb.astype(np.int8), "action": act, "own_estimate": own,
        "segment": sup["treatment"].to_numpy(object), "session": sup["session"].to_numpy(object),
        "capacity": capacity, "partner": sup["partner"].astype("string").fillna("").to_numpy(object),
        "report_is_default": sup["partner_default"].to_numpy(np.int8),
        "capacity_is_default": cap_default.astype(np.int8),
        # the row of the long-format file (an oTree export has no such row: left out)
        **({"source_row": sup["row"].to_numpy(np.int64)} if data.layout == "long" else {}),
    })[write].sort_values(["seller", "time"], ignore_index=True)

    report.n_events = len(events)
    report.n_decisions = int(np.isfinite(events["action"]).sum())
    report.n_suppliers = int(events["seller"].nunique())
    if len(events):
        per = events.groupby("seller")["time"].agg(["size", "max"])
        report.rounds_per_supplier = [int(per["size"].min()), int(per["size"].max())]
        # rounds 1..last round of the session that a supplier has no row for
        last = events.groupby("session")["time"].max()
        expected = events.groupby("seller")["session"].first().map(last)
        report.absent = int((expected - per["size"]).sum())
    if report.n_suppliers and report.n_suppliers < 30:
        report.warnings.append(f"only {report.n_suppliers} suppliers: the population parameters "
                               "(rates, initial-trust distribution) rest on few trust paths; read "
                               "their standard errors and the fit's identification warnings")
    if not events["feedback"].any():
        report.warnings.append("no round showed the results: trust cannot move, eta_up and "
                               "eta_down are not identified by these data")
    return events, report


# --------------------------------------------------------------------------------------
# writing


def write_trust_logs(events: pd.DataFrame, report: ConversionReport, out: str | Path) -> Path:
    """Write ``events`` as hive-partitioned Parquet (``OUT/events/session=CODE/part-0.parquet``)
    with ``OUT/schema.json`` (adoption kind, fidelity scale) and ``OUT/conversion.json``
    (the report): the layout ``cheaptalk trust fit --logs OUT`` reads."""
    out = Path(out)
    root = out / "events"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("session=*/part-*.parquet"):
        old.unlink()       # a rerun replaces the previous conversion's files only
    for s, part in events.groupby("session", sort=True):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", s) or "none"
        folder = root / f"session={name}"
        folder.mkdir(exist_ok=True)
        table = pa.Table.from_pandas(part.drop(columns="session"), preserve_index=False)
        pq.write_table(table, folder / "part-0.parquet")
    schema = {"adoption": "continuous", "fidelity_scale": report.fidelity_scale,
              "fidelity": "1 - min(1, |recommendation - truth| / fidelity_scale)",
              "source": report.source, "synthetic": False,
              "recommendation": "the manufacturer's report", "truth": "the manufacturer's forecast",
              "action": "capacity - z* (the forecast for which the capacity is the newsvendor choice)",
              "own_estimate": "babbling capacity - z*",
              "mapping": report.mapping}
    (out / "schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    (out / "conversion.json").write_text(json.dumps(report.as_dict(), indent=2, default=str) + "\n")
    return out
