"""Per-seller filtered trust, written as Parquet, and the aggregates the figures use."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .model import TrustDynamics

__all__ = ["write_trajectories", "fidelity_segment", "FIDELITY_CUTS"]

# sellers without a segment label are grouped by the mean fidelity of the recommendations
# they received (fixed cut points, so segments mean the same thing across data sets)
FIDELITY_CUTS = (0.6, 0.8)
MAX_PLOT_EVENTS = 200


def fidelity_segment(mean_fidelity: np.ndarray) -> np.ndarray:
    lo, hi = FIDELITY_CUTS
    return np.where(~np.isfinite(mean_fidelity), "unknown fidelity",
                    np.where(mean_fidelity < lo, f"low fidelity (<{lo})",
                             np.where(mean_fidelity < hi, f"mid fidelity ({lo}-{hi})",
                                      f"high fidelity (>={hi})")))


def write_trajectories(batches, model: TrustDynamics, u, out: str | Path, level: float = 0.9,
                       progress: bool = False) -> dict:
    """Write ``trust_trajectories.parquet`` (one row per event: trust at the decision with a
    ``level`` interval) and ``seller_trust.parquet`` (one row per seller); return the
    aggregates for the figures (mean trust by event index and segment; trust changes
    against the fidelity gap ``f_t - alpha_t``; observed and predicted adoption by event
    index and segment; observed and predicted adoption right after feedback that the
    recommendation was right or wrong, by segment, with seller-clustered intervals).

    Adoption, observed and predicted, by segment and event index over observed decisions:
    binary, the share of follow decisions and the mean predicted ``P(follow)``; continuous,
    the weight on the recommendation, ``sum (a - own)(m - own) / sum (m - own)^2`` and its
    prediction ``sum pred (m - own)^2 / sum (m - own)^2``. The prediction uses the feedback
    the seller saw but none of its decisions (the population's initial trust, not the
    seller's posterior), so it is the rule's forecast, not a fit to each seller."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    w_events = w_sellers = None
    by_segment: dict[str, list] = {}
    adoption: dict[str, list] = {}       # segment -> observed, predicted, weight sums by event
    # segment -> {after: [sum y, sum predicted, sum w, sum Y_i^2, sum Y_i W_i, sum W_i^2, sellers]}
    after: dict[str, dict[str, np.ndarray]] = {}
    gap_bins = np.linspace(-1, 1, 41)
    change_sum = np.zeros(len(gap_bins) - 1)
    change_n = np.zeros(len(gap_bins) - 1)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc="trust trajectories", unit="seller", unit_scale=True, file=sys.stderr, leave=False)
    for batch in batches:
        nb = int(batch["n_sellers"])
        f = model.filtered(u, batch, levels=(lo_q, hi_q))
        length = batch["length"][:nb]
        T = batch["gap"].shape[1]
        valid = np.arange(T)[None, :] < length[:, None]
        r, c = np.nonzero(valid)
        seller = batch["seller"][:nb]
        trust = f["trust"][:nb]
        ev = pa.table({
            "seller": seller[r], "time": batch["time"][:nb][r, c], "event": c.astype(np.int32),
            "trust": trust[r, c], "trust_lower": f[f"q{lo_q:g}"][:nb][r, c],
            "trust_upper": f[f"q{hi_q:g}"][:nb][r, c],
            "fidelity": batch["fidelity"][:nb][r, c].astype(float),
            "feedback": batch["feedback"][:nb][r, c]})
        if "segment" in batch:
            segment = np.asarray(batch["segment"][:nb], dtype=object)
            segment = np.where(pd_isna(segment), fidelity_segment(batch["mean_fidelity"][:nb]), segment)
        else:
            segment = fidelity_segment(batch["mean_fidelity"][:nb])
        last = trust[np.arange(nb), np.maximum(length - 1, 0)]
        st = pa.table({"seller": seller, "segment": segment.astype(str), "n_events": length,
                       "mean_fidelity": batch["mean_fidelity"][:nb],
                       "initial_trust": f["initial_trust"][:nb], "final_trust": last})
        if w_events is None:
            w_events = pq.ParquetWriter(out / "trust_trajectories.parquet", ev.schema)
            w_sellers = pq.ParquetWriter(out / "seller_trust.parquet", st.schema)
        w_events.write_table(ev)
        w_sellers.write_table(st)
        # aggregates for the figures
        tmax = min(T, MAX_PLOT_EVENTS)
        lower, upper = f[f"q{lo_q:g}"][:nb], f[f"q{hi_q:g}"][:nb]
        for seg in np.unique(segment):
            m = segment == seg
            s, n, s_lo, s_hi = by_segment.setdefault(str(seg), [np.zeros(MAX_PLOT_EVENTS) for _ in range(4)])
            ok = valid[m, :tmax]
            s[:tmax] += np.where(ok, trust[m, :tmax], 0).sum(axis=0)
            n[:tmax] += ok.sum(axis=0)
            s_lo[:tmax] += np.where(ok, lower[m, :tmax], 0).sum(axis=0)
            s_hi[:tmax] += np.where(ok, upper[m, :tmax], 0).sum(axis=0)
        obs = batch["observed"][:nb, :tmax] & valid[:, :tmax]
        if model.kind == "continuous":
            gap = batch["gap"][:nb, :tmax].astype(float)
            weight = gap * gap
            seen = batch["act"][:nb, :tmax].astype(float) * gap
        else:
            weight = np.ones(obs.shape)
            seen = batch["act"][:nb, :tmax].astype(float)
        predicted = f["predicted_adoption"][:nb, :tmax] * weight
        for seg in np.unique(segment):
            m = (segment == seg)[:, None] & obs
            sums = adoption.setdefault(str(seg), [np.zeros(MAX_PLOT_EVENTS) for _ in range(3)])
            for acc, v in zip(sums, (seen, predicted, weight)):
                acc[:tmax] += np.where(m, v, 0).sum(axis=0)
        # model-free: adoption at the decision right after feedback that the recommendation was
        # right (fidelity >= 1/2) or wrong, with per-seller sums for a seller-clustered interval
        fb_next = batch["feedback"][:nb, :-1] & valid[:, 1:] & batch["observed"][:nb, 1:]
        right = batch["fidelity"][:nb, :-1] >= 0.5
        if model.kind == "continuous":
            w_next = batch["gap"][:nb, 1:].astype(float) ** 2
            y_next = batch["act"][:nb, 1:].astype(float) * batch["gap"][:nb, 1:].astype(float)
        else:
            w_next = np.ones(fb_next.shape)
            y_next = batch["act"][:nb, 1:].astype(float)
        p_next = f["predicted_adoption"][:nb, 1:] * w_next
        for seg in np.unique(segment):
            rows = (segment == seg)[:, None]
            for name, cls in (("right", right), ("wrong", ~right)):
                m = rows & fb_next & cls
                Y = np.where(m, y_next, 0).sum(axis=1)
                P = np.where(m, p_next, 0).sum(axis=1)
                W = np.where(m, w_next, 0).sum(axis=1)
                acc = after.setdefault(str(seg), {}).setdefault(name, np.zeros(7))
                acc += [Y.sum(), P.sum(), W.sum(), (Y * Y).sum(), (Y * W).sum(), (W * W).sum(), (W > 0).sum()]
        fb = batch["feedback"][:nb, :-1] & valid[:, 1:]
        gap = (batch["fidelity"][:nb, :-1] - trust[:, :-1])[fb]
        change = (trust[:, 1:] - trust[:, :-1])[fb]
        k = np.clip(np.digitize(gap, gap_bins) - 1, 0, len(gap_bins) - 2)
        np.add.at(change_sum, k, change)
        np.add.at(change_n, k, 1)
        if bar is not None:
            bar.update(nb)
    if bar is not None:
        bar.close()
    for w in (w_events, w_sellers):
        if w is not None:
            w.close()
    mids = (gap_bins[1:] + gap_bins[:-1]) / 2
    def mean(k, i):
        v = by_segment[k]
        return (v[i] / np.maximum(v[1], 1))[v[1] > 0]
    return {"segments": {k: mean(k, 0) for k in by_segment},
            # the mean of the sellers' own interval bounds (level ``level``) at each event
            "segment_intervals": {k: (mean(k, 2), mean(k, 3)) for k in by_segment},
            "interval_level": level,
            "segment_sellers": {k: int(v[1][0]) for k, v in by_segment.items()},
            "gap": mids[change_n > 0], "change": (change_sum / np.maximum(change_n, 1))[change_n > 0],
            "adoption": {k: {"event": np.flatnonzero(v[2] > 0) + 1, "observed": v[0][v[2] > 0] / v[2][v[2] > 0],
                             "predicted": v[1][v[2] > 0] / v[2][v[2] > 0]} for k, v in adoption.items()},
            "adoption_measure": "share followed" if model.kind == "binary" else "weight on the recommendation",
            "after_feedback": {seg: {name: _ratio_with_interval(v) for name, v in parts.items()}
                               for seg, parts in after.items()}}


def _ratio_with_interval(sums) -> dict:
    """Observed adoption ``R = sum Y_i / sum W_i`` over sellers ``i`` with its seller-clustered
    standard error, ``se^2 = G/(G-1) sum_i (Y_i - R W_i)^2 / (sum W_i)^2``, and the rule's
    forecast ``sum P_i / sum W_i``."""
    y, p, w, yy, yw, ww, g = (float(v) for v in sums)
    if w <= 0:
        return {"observed": None, "se": None, "predicted": None, "sellers": int(g)}
    r = y / w
    spread = max(yy - 2 * r * yw + r * r * ww, 0.0)
    se = float(np.sqrt(g / (g - 1) * spread) / w) if g > 1 else float("nan")
    return {"observed": r, "se": se, "predicted": p / w, "sellers": int(g)}


def pd_isna(a):
    return np.array([x is None or (isinstance(x, float) and np.isnan(x)) for x in a], bool)
