"""The figures of the comparison report, made for reading and for papers.

Each builder returns a :class:`Figure` (a matplotlib figure, a file name and a caption) or
None when there is nothing to show. The HTML report embeds them with their captions;
``write_report`` also saves each as PNG and PDF beside a caption file.

Design rules: small multiples (one panel per model and treatment) instead of overlapping
bands; legends outside the data; treatments named in words (the game file's descriptions);
axis labels in the game's terms (forecast, report, capacity; state, message, action); in
finite games choice frequencies as heatmaps, the data beside each model's prediction;
cross-validated fit as differences against the best model with paired standard errors.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["Figure", "comparison_figures", "MAX_MODEL_ROWS"]

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
MAX_MODEL_ROWS = 6          # small multiples: at most this many models (the best error model's)


@dataclass
class Figure:
    name: str         # file stem
    title: str        # section heading
    caption: str
    figure: object    # matplotlib Figure

    def close(self):
        plt.close(self.figure)


def _color(comparison, name: str) -> str:
    """A model's colour, the same in every figure of a report."""
    return _COLORS[list(comparison.fits).index(name) % len(_COLORS)]


def _treatment_title(game, t: str) -> str:
    words = (getattr(game, "descriptions", {}) or {}).get(t, "")
    return f"{t}: {words}" if words and words != t else t


def _shown_models(comparison) -> list[str]:
    """The models drawn in per-model panels: those of the best error model when there are
    several, best first by held-out score, at most MAX_MODEL_ROWS."""
    names = list(comparison.fits)
    if len(comparison.errors) > 1 and comparison.verdict.get("best"):
        errors = comparison.verdict["best"]["errors"]
        names = [n for n in names if comparison.errors_of(n) == errors] or names
    # the best first, then by held-out score (BIC without cross-validation), best to worst
    best = comparison.best
    names = sorted(names, key=lambda n: (n != best, -comparison._score(n)))
    return names[:MAX_MODEL_ROWS]


def _roles(game_kind: str):
    if game_kind == "forecast":
        return (("sender", "state", "message", "forecast", "report"),
                ("receiver", "message", "action", "report", "capacity"))
    return (("sender", "state", "message", "state", "message"),
            ("receiver", "message", "action", "message", "action"))


# --- cross-validated fit ------------------------------------------------------------------

def cv_figure(comparison) -> Figure | None:
    """Each model's CV log-likelihood per decision minus the best model's, with 95% intervals
    from the subjects' paired differences (the same subjects and folds)."""
    from ..comparison.predictive import paired_cv_difference
    if not comparison.cv or comparison.best not in comparison.cv:
        return None
    best = comparison.best
    rows = []
    for name, cv in comparison.cv.items():
        if cv.get("cv_loglik") is None:
            continue        # a fold did not converge: no CV score
        if name == best:
            rows.append((name, 0.0, 0.0))
        elif "by_subject" in cv and "by_subject" in comparison.cv[best]:
            d = paired_cv_difference(cv, comparison.cv[best])
            rows.append((name, d["difference"], d["se"]))
        else:
            rows.append((name, cv["cv_loglik"] - comparison.cv[best]["cv_loglik"], np.nan))
    rows.sort(key=lambda r: -r[1])
    names = [r[0] for r in rows]
    diff = np.array([r[1] for r in rows])
    se = np.array([r[2] for r in rows])
    fig, ax = plt.subplots(figsize=(7.0, 0.38 * len(rows) + 1.4))
    y = np.arange(len(rows))
    ax.axvline(0.0, color="0.3", lw=0.8)
    verdict = comparison.verdict
    members = {f"{m['model']}/{m['errors']}" if len(comparison.errors) > 1 else m["model"]
               for m in verdict.get("confidence_set") or []}
    inside = np.array([n in members or n == best for n in names])
    for mask, color, label in ((inside, _COLORS[1], f"in the {100 * comparison.level:.0f}% model confidence set"),
                               (~inside, _COLORS[0], "outside it")):
        if mask.any():
            ax.errorbar(diff[mask], y[mask], xerr=np.where(np.isfinite(se[mask]), 1.96 * se[mask], 0.0), fmt="o",
                        color=color, ecolor="0.45", capsize=3, ms=5, label=label)
    if members:
        ax.legend(fontsize=8, loc="best", frameon=False)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(f"held-out log-likelihood per decision minus that of {best} (higher is better)")
    ax.grid(axis="x", color="0.9")
    fig.tight_layout()
    k = next(iter(comparison.cv.values())).get("folds", "")
    return Figure("cv_differences", "Cross-validated fit against the best model",
                  f"Difference in {k}-fold cross-validated log-likelihood per held-out decision between each "
                  f"model and the best, {best}; bars are 95% intervals from the subjects' paired differences "
                  "(same subjects, same folds). Highlighted: the models of the model confidence set over all "
                  "fits, those the held-out data cannot tell apart from the best (the verdict rests on these "
                  "sets, not on single intervals).", fig)


# --- behaviour: small multiples (continuous) or heatmaps (finite) -------------------------------

def _band(x, y, bins: int = 10):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 10:
        return np.array([]), np.array([]), np.array([]), np.array([])
    edges = np.quantile(x, np.linspace(0, 1, bins + 1))
    edges = np.unique(edges)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    centers, lo, mid, hi = [], [], [], []
    for b in range(len(edges) - 1):
        part = y[idx == b]
        if part.size >= 5:
            q = np.percentile(part, [10, 50, 90])
            centers.append(np.median(x[idx == b]))
            lo.append(q[0])
            mid.append(q[1])
            hi.append(q[2])
    return np.array(centers), np.array(lo), np.array(mid), np.array(hi)


def behaviour_panels(comparison, role_spec) -> Figure | None:
    """Forecast sharing: one row per model, one column per treatment; dots the data, the
    line and band the median and 10-90% range of data simulated from the fitted model."""
    role, xcol, ycol, xname, yname = role_spec
    models = [m for m in _shown_models(comparison) if m in comparison.simulations]
    if not models:
        return None
    data = comparison.data
    treatments = list(dict.fromkeys(data["treatment"].astype(str)))
    nr, nc = len(models), len(treatments)
    fig, axes = plt.subplots(nr, nc, figsize=(2.9 * nc + 0.8, 2.3 * nr + 0.9), squeeze=False,
                             sharex=True, sharey=True)
    for j, t in enumerate(treatments):
        part = data[(data["treatment"].astype(str) == t) & (data["role"] == role)]
        for i, name in enumerate(models):
            ax = axes[i, j]
            ax.scatter(part[xcol], part[ycol], s=3, alpha=0.18, color="0.4", lw=0, rasterized=True)
            sim = comparison.simulations[name]
            s = sim[(sim["treatment"].astype(str) == t) & (sim["role"] == role)]
            xc, lo, mid, hi = _band(s[xcol], s[ycol])
            color = _color(comparison, name)
            if xc.size:
                ax.fill_between(xc, lo, hi, color=color, alpha=0.25, lw=0)
                ax.plot(xc, mid, color=color, lw=1.8)
            dx, _, dmid, _ = _band(part[xcol], part[ycol])
            if dx.size:
                ax.plot(dx, dmid, color="k", lw=1.1, ls="--")
            if role == "sender" and len(part):
                lims = [part[xcol].min(), part[xcol].max()]
                ax.plot(lims, lims, color="k", lw=0.7, ls=":")
            if i == 0:
                ax.set_title(_treatment_title(comparison.game, t), fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{name}\n{yname}", fontsize=8)
            if i == nr - 1:
                ax.set_xlabel(xname, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    title = f"{yname.capitalize()}s against {xname}s, data and each model"
    caption = (f"Each row is one fitted model ({'the best error model' if len(comparison.errors) > 1 else 'every model'}"
               f", the best first), each column a treatment. Grey dots: the data ({role}s' {yname} by {xname}). "
               f"Line and band: median and 10th-90th percentile of data simulated from the fitted model with the "
               f"design of the data. Dashed black: the data's median." + (" Dotted: truthful reports." if role == "sender" else ""))
    return Figure(f"{role}_{ycol}_by_{xcol}", title, caption, fig)


def _frequencies(frame, role, xcol, ycol, xs, ys) -> np.ndarray:
    part = frame[frame["role"] == role]
    table = np.zeros((len(xs), len(ys)))
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    for x, y in zip(part[xcol].to_numpy(float), part[ycol].to_numpy(float)):
        if x in xi and y in yi:
            table[xi[x], yi[y]] += 1
    rows = table.sum(axis=1, keepdims=True)
    return np.divide(table, rows, out=np.full_like(table, np.nan), where=rows > 0)


MAX_HEATMAP_MODELS = 3      # models beside the data when the heatmaps are split by treatment


def choice_heatmaps(comparison, role_spec) -> Figure | None:
    """Finite games: P(choice | what the player saw) in the data beside each model's, one row
    per treatment: treatments can reverse the incentives (a lie that pays in one pays nothing
    in another), and pooling them would cancel the direction of lies."""
    role, xcol, ycol, xname, yname = role_spec
    models = [m for m in _shown_models(comparison) if m in comparison.simulations]
    data = comparison.data
    part = data[data["role"] == role]
    if part.empty:
        return None
    treatments = list(dict.fromkeys(data["treatment"].astype(str))) if "treatment" in data else [None]
    if len(treatments) > 1:
        models = models[:MAX_HEATMAP_MODELS]
    frames = {"data": data, **{m: comparison.simulations[m] for m in models}}
    xs = sorted(set().union(*(set(f.loc[f["role"] == role, xcol].to_numpy(float)) for f in frames.values())))
    ys = sorted(set().union(*(set(f.loc[f["role"] == role, ycol].to_numpy(float)) for f in frames.values())))

    def rows_of(frame, t):
        return frame if t is None else frame[frame["treatment"].astype(str) == t]

    cols = len(frames)
    fig, axes = plt.subplots(len(treatments), cols, figsize=(2.4 * cols + 1.4, 2.3 * len(treatments) + 0.6),
                             squeeze=False)
    image = None
    for i, t in enumerate(treatments):
        for j, (name, frame) in enumerate(frames.items()):
            ax = axes[i, j]
            freq = _frequencies(rows_of(frame, t), role, xcol, ycol, xs, ys)
            image = ax.imshow(freq, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
            if i == 0:
                ax.set_title(name, fontsize=9, fontweight="bold" if name == "data" else "normal")
            ax.set_xticks(range(len(ys)), [f"{v:g}" for v in ys], fontsize=6)
            ax.set_yticks(range(len(xs)), [f"{v:g}" for v in xs], fontsize=6)
            if i == len(treatments) - 1:
                ax.set_xlabel(yname, fontsize=8)
            if j == 0:
                if len(treatments) == 1:
                    ax.set_ylabel(xname, fontsize=8)
                else:
                    label = "\n".join(textwrap.wrap(_treatment_title(comparison.game, t), 28))
                    ax.set_ylabel(f"{label}\n{xname}", fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    cax = fig.add_axes((0.935, 0.15, 0.015, 0.7))
    fig.colorbar(image, cax=cax, label=f"P({yname} | {xname})")
    split = len(treatments) > 1
    return Figure(f"{role}_{ycol}_given_{xcol}", f"{yname.capitalize()} given {xname}: data and models",
                  f"Share of each {yname} (columns of a panel) given the {xname} (rows) the {role}s saw"
                  + (", one row of panels per treatment (incentives differ between treatments, so they are not "
                     "pooled)" if split else "")
                  + f": the data first, then data simulated from each fitted model "
                  f"({'the best error model, ' if len(comparison.errors) > 1 else ''}the best first"
                  + (f", at most {MAX_HEATMAP_MODELS}" if split else "") + ").", fig)


# --- individuals and welfare ------------------------------------------------------------------

def trust_figure(comparison, posteriors: dict) -> Figure | None:
    """Distribution of subjects' posterior mean trust and trustworthiness: one panel per
    model and attribute (small multiples)."""
    panels = []
    for name, post in posteriors.items():
        for role, attr in (("receiver", "trust"), ("sender", "trustworthiness")):
            part = post[(post["role"] == role) & (post["attribute"] == attr)]
            if not part.empty:
                panels.append((name, role, attr, part["mean"].dropna().to_numpy()))
    if not panels:
        return None
    shown = set(_shown_models(comparison))
    panels = [p for p in panels if p[0] in shown] or panels
    models = list(dict.fromkeys(p[0] for p in panels))
    attrs = [("receiver", "trust"), ("sender", "trustworthiness")]
    attrs = [a for a in attrs if any((p[1], p[2]) == a for p in panels)]
    fig, axes = plt.subplots(len(models), len(attrs), figsize=(3.6 * len(attrs) + 0.6, 1.9 * len(models) + 0.8),
                             squeeze=False, sharex=True)
    for i, name in enumerate(models):
        for j, (role, attr) in enumerate(attrs):
            ax = axes[i, j]
            values = next((p[3] for p in panels if p[0] == name and (p[1], p[2]) == (role, attr)), None)
            if values is None:
                ax.axis("off")
                continue
            ax.hist(values, bins=np.linspace(0, 1, 21), color=_color(comparison, name))
            if i == 0:
                ax.set_title(f"{attr} ({role}s)", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{name}\nsubjects", fontsize=8)
            if i == len(models) - 1:
                ax.set_xlabel(f"posterior mean {attr}", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return Figure("trust_posteriors", "Individual trust and trustworthiness",
                  "Distribution over subjects of each subject's posterior mean trust (receivers) and "
                  "trustworthiness (senders) given all her decisions, at the estimated parameters (empirical "
                  "Bayes: parameter uncertainty not included); one row per model with these attributes.", fig)


def welfare_figure(comparison, frame: pd.DataFrame) -> Figure | None:
    if frame.empty:
        return None
    column = "efficiency" if "efficiency" in frame else next((c for c in frame.columns
                                                              if c not in ("model", "treatment")), None)
    if column is None:
        return None
    models = [m for m in _shown_models(comparison) if m in set(frame["model"])]
    has_data = "data" in set(frame["model"])
    models = (["data"] if has_data else []) + models
    pivot = frame.pivot(index="treatment", columns="model", values=column)[models]
    fig, ax = plt.subplots(figsize=(max(7.5, 1.5 * len(pivot.index) + 2.5), 3.8))
    x = np.arange(len(pivot.index))
    width = 0.8 / max(len(models), 1)
    for k, m in enumerate(models):
        ax.bar(x + (k - (len(models) - 1) / 2) * width, pivot[m].to_numpy(), width,
               color="0.15" if m == "data" else _color(comparison, m),
               label="data (its own strategies)" if m == "data" else m)
    words = getattr(comparison.game, "descriptions", {}) or {}
    ax.set_xticks(x, ["\n".join([t] + textwrap.wrap(words.get(t, ""), 18)) for t in pivot.index], fontsize=7)
    ax.set_ylabel(column.replace("_", " "))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_ylim(0, None)
    fig.tight_layout()
    return Figure("welfare", "Welfare in the data and under each fitted model",
                  f"{column.replace('_', ' ').capitalize()} in each treatment"
                  + (": first (dark) the data's, from the senders' and receivers' observed choice frequencies, "
                     "then " if has_data else ": ")
                  + "predicted by each fitted model (efficiency: the two parties' expected total payoff over the "
                  "first best, when a random sender meets a random receiver).", fig)


def comparison_figures(comparison, posteriors: dict, welfare: pd.DataFrame) -> list[Figure]:
    """Every figure of the report, in the report's order."""
    figures = [cv_figure(comparison)]
    if comparison.simulations:
        build = behaviour_panels if comparison.game.kind == "forecast" else choice_heatmaps
        figures += [build(comparison, spec) for spec in _roles(comparison.game.kind)]
    figures += [trust_figure(comparison, posteriors), welfare_figure(comparison, welfare)]
    return [f for f in figures if f is not None]
