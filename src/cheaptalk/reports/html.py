"""A self-contained HTML report of a model comparison (figures embedded as base64 PNG).

Sections: the data (and what cleaning did), the comparison table, tests, cross-validated
fit by model, reports against states and actions against reports with each model's
predicted band (10th-90th percentile of data simulated from the fitted model), the
behavioural regularities, each person's posterior trust and trustworthiness, welfare under
each model, and every estimation warning.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["write_report", "render_report"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em;
margin-top: 2em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1em; }
th, td { padding: .2em .6em; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; }
.note { color: #555; font-size: .9em; } .warn { color: #8a4b00; }
.best { font-weight: bold; } img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 .2em; }
"""

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, index: bool = True, digits: int = 4) -> str:
    return frame.to_html(index=index, border=0, na_rep="", escape=True,
                         float_format=lambda v: f"{v:.{digits}g}")


def _bins(x: np.ndarray, n: int = 10):
    values = np.unique(x[np.isfinite(x)])
    if values.size <= 15:
        return values, np.searchsorted(values, x)
    edges = np.linspace(values[0], values[-1], n + 1)
    idx = np.clip(np.digitize(x, edges) - 1, 0, n - 1)
    return 0.5 * (edges[:-1] + edges[1:]), idx


def _band(x, y, n: int = 10):
    """Median and 10th-90th percentiles of y in bins of x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    centers, idx = _bins(x[ok], n)
    y = y[ok]
    lo, mid, hi, keep = [], [], [], []
    for b in range(len(centers)):
        part = y[idx == b]
        if part.size >= 3:
            q = np.percentile(part, [10, 50, 90])
            lo.append(q[0]); mid.append(q[1]); hi.append(q[2]); keep.append(b)
    return centers[keep], np.array(lo), np.array(mid), np.array(hi)


def _scatter_with_bands(comparison, role: str, xcol: str, ycol: str, xlabel: str, ylabel: str,
                        diagonal: bool) -> str:
    data = comparison.data
    treatments = list(dict.fromkeys(data["treatment"].astype(str)))
    n = len(treatments)
    cols = min(n, 2)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    for ax, t in zip(axes.ravel(), treatments):
        part = data[(data["treatment"].astype(str) == t) & (data["role"] == role)]
        jitter = 0.0
        if comparison.game.kind == "finite":
            jitter = 0.08 * np.random.default_rng(0).standard_normal(len(part))
        ax.scatter(part[xcol] + jitter, part[ycol] + jitter, s=6, alpha=0.25, color="0.35", label="data")
        order = list(comparison.fits)
        for name, sim in comparison.simulations.items():
            k = order.index(name)
            s = sim[(sim["treatment"].astype(str) == t) & (sim["role"] == role)]
            xc, lo, mid, hi = _band(s[xcol], s[ycol])
            if xc.size:
                color = _COLORS[k % len(_COLORS)]
                ax.fill_between(xc, lo, hi, color=color, alpha=0.15)
                ax.plot(xc, mid, color=color, lw=1.6, label=name)
        if diagonal:
            lims = [part[xcol].min(), part[xcol].max()]
            ax.plot(lims, lims, color="k", lw=0.8, ls=":", label="truthful" if role == "sender" else "credulous")
        ax.set_title(t)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _png(fig)


def _cv_figure(comparison) -> str | None:
    if not comparison.cv:
        return None
    names = list(comparison.cv)
    values = np.array([comparison.cv[n]["cv_loglik"] for n in names])
    spread = [np.std(comparison.cv[n]["per_fold"]) for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(names) + 1.2))
    colors = [_COLORS[0] if n == comparison.best else "0.6" for n in names]
    ax.barh(names, values - values.min() + 1e-3, left=values.min(), xerr=spread, color=colors)
    ax.set_xlabel("cross-validated log-likelihood per decision (higher is better; bars: sd over folds)")
    ax.invert_yaxis()
    fig.tight_layout()
    return _png(fig)


def _trust_figure(posteriors: dict, order: list) -> str | None:
    panels = [("receiver", "trust"), ("sender", "trustworthiness")]
    have = [(role, attr) for role, attr in panels
            if any(((p["role"] == role) & (p["attribute"] == attr)).any() for p in posteriors.values())]
    if not have:
        return None
    fig, axes = plt.subplots(1, len(have), figsize=(5.2 * len(have), 3.6), squeeze=False)
    for ax, (role, attr) in zip(axes.ravel(), have):
        for k, (name, post) in enumerate(posteriors.items()):
            part = post[(post["role"] == role) & (post["attribute"] == attr)]
            if part.empty:
                continue
            ax.hist(part["mean"].dropna(), bins=np.linspace(0, 1, 21), alpha=0.5, label=name,
                    color=_COLORS[order.index(name) % len(_COLORS)])
        ax.set_xlabel(f"posterior mean {attr} ({role}s)")
        ax.set_ylabel("subjects")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _welfare_frame(comparison) -> pd.DataFrame:
    rows = []
    for name, by_treatment in comparison.welfare.items():
        for t, values in (by_treatment or {}).items():
            rows.append({"model": name, "treatment": t, **{k: v for k, v in values.items()
                                                           if isinstance(v, (int, float, np.floating))}})
    return pd.DataFrame(rows)


def _welfare_figure(frame: pd.DataFrame, order: list) -> str | None:
    if frame.empty:
        return None
    column = "efficiency" if "efficiency" in frame else next((c for c in frame.columns
                                                              if c not in ("model", "treatment")), None)
    if column is None:
        return None
    pivot = frame.pivot(index="treatment", columns="model", values=column)
    models = [m for m in order if m in pivot.columns]
    pivot = pivot[models]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    pivot.plot.bar(ax=ax, rot=0, color=[_COLORS[order.index(m) % len(_COLORS)] for m in models])
    low, high = float(np.nanmin(pivot.to_numpy())), float(np.nanmax(pivot.to_numpy()))
    if low > 0:       # differences between models are what matters: do not start at 0
        ax.set_ylim(0.9 * low, high + 0.05 * (high - 0.9 * low))
    ax.set_ylabel(column.replace("_", " "))
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    return _png(fig)


def render_report(comparison, posteriors: dict | None = None) -> str:
    """The report as one HTML string."""
    if posteriors is None:
        posteriors = {}
        for name, f in comparison.fits.items():
            try:
                p = f.subject_posteriors()
            except Exception:      # a model without type attributes has no posteriors to show
                continue
            if not p.empty:
                posteriors[name] = p
    game = comparison.game
    kind = game.kind
    synthetic = _is_bundled(comparison.data_path)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>cheaptalk: model comparison on {html.escape(game.name)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Which theory explains the data? {html.escape(game.name)}</h1>",
             f"<p class='note'>Data: <code>{html.escape(comparison.data_path)}</code>"
             + (" &mdash; <b>the bundled synthetic data set</b> (simulated, not real lab data)" if synthetic else "")
             + f". {len(comparison.data)} decisions; {len(comparison.fits)} models; "
             f"generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in {comparison.seconds:.1f} s.</p>"]
    if len(comparison.errors) > 1:
        verdict = comparison.verdict
        parts.append("<h2>Verdict under each error model</h2>")
        parts.append("<p class='note'>Every family fitted under each error model (docs/models.md, section 4); "
                     "the best family by " + ("cross-validated log-likelihood" if comparison.cv else "BIC")
                     + " under each, and the held-out difference per decision between the two leading families "
                     "with its standard error paired by subject. The verdict "
                     + ("<b>holds under every error model</b>" if verdict["robust"]
                        else "<b class='warn'>depends on the error model</b>") + ".</p>")
        parts.append(_table(comparison.verdict_table(), index=False))
    if comparison.failed or comparison.skipped:
        parts.append("<ul>" + "".join(f"<li class='warn'><b>{html.escape(k)}</b> failed: {html.escape(v)}</li>"
                                      for k, v in comparison.failed.items())
                     + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                               for k, v in comparison.skipped.items()) + "</ul>")
    if comparison.cleaning is not None:
        parts.append("<h2>Data and cleaning</h2><pre>" + html.escape(str(comparison.cleaning)) + "</pre>")

    parts.append("<h2>Estimates and fit</h2>")
    parts.append("<p class='note'>Maximum likelihood; standard errors (in parentheses) cluster-robust by "
                 "subject; <i>(bound)</i>: estimate at a bound, no standard error; <i>(--)</i>: not identified "
                 f"(flat likelihood). Best by {'cross-validated log-likelihood' if comparison.cv else 'BIC'}: "
                 f"<b>{html.escape(comparison.best)}</b>.</p>")
    parts.append(_table(comparison.table()))
    src = _cv_figure(comparison)
    if src:
        parts.append("<h2>Cross-validated fit by model</h2>" + _img(src, "cross-validated fit"))
    if comparison.vuong:
        parts.append("<h2>Vuong tests</h2><p class='note'>Non-nested pairs, subject-level contributions, "
                     "Schwarz-corrected; z &gt; 0 favours model A.</p>")
        parts.append(_table(pd.DataFrame(comparison.vuong)[["model_a", "model_b", "z", "p_value", "favours"]],
                            index=False))
    if comparison.lr_tests:
        parts.append("<h2>Likelihood-ratio tests (nested pairs)</h2>")
        parts.append(_table(pd.DataFrame(comparison.lr_tests), index=False))

    if comparison.simulations:
        if kind == "forecast":
            labels = (("forecast", "report"), ("report", "capacity"))
        else:
            labels = (("state", "message"), ("message", "action"))
        parts.append(f"<h2>{labels[0][1].capitalize()}s against {labels[0][0]}s</h2>"
                     "<p class='note'>Dots: data. Lines and bands: median and 10th-90th percentile of data "
                     "simulated from each fitted model.</p>")
        parts.append(_img(_scatter_with_bands(comparison, "sender", "state", "message", labels[0][0], labels[0][1],
                                              True), "reports against forecasts"))
        parts.append(f"<h2>{labels[1][1].capitalize()} against {labels[1][0]}s</h2>")
        parts.append(_img(_scatter_with_bands(comparison, "receiver", "message", "action", labels[1][0],
                                              labels[1][1], False), "actions against reports"))
    if comparison.regularities is not None:
        parts.append("<h2>Behavioural regularities</h2><p class='note'>Data beside each fitted model "
                     "(simulated with the design of the data).</p>")
        parts.append(_table(comparison.regularities, index=False, digits=3))

    src = _trust_figure(posteriors, list(comparison.fits))
    if src:
        parts.append("<h2>Individual trust and trustworthiness</h2><p class='note'>Each subject's posterior "
                     "mean given all her decisions, at the estimated parameters.</p>" + _img(src, "trust"))
        for name, post in posteriors.items():
            summary = (post.groupby(["role", "attribute"])["mean"]
                       .describe(percentiles=[0.1, 0.5, 0.9])[["count", "mean", "10%", "50%", "90%"]])
            parts.append(f"<p><b>{html.escape(name)}</b></p>" + _table(summary, digits=3))

    welfare = _welfare_frame(comparison)
    if not welfare.empty:
        parts.append("<h2>Welfare under each fitted model</h2>")
        src = _welfare_figure(welfare, list(comparison.fits))
        if src:
            parts.append(_img(src, "welfare"))
        parts.append(_table(welfare, index=False))

    warn = [(n, w) for n, f in comparison.fits.items() for w in f.warnings]
    if warn or comparison.notes:
        parts.append("<h2>Warnings</h2><ul>")
        parts.extend(f"<li class='warn'><b>{html.escape(n)}</b>: {html.escape(w)}</li>" for n, w in warn)
        parts.extend(f"<li class='warn'>{html.escape(n)}</li>" for n in comparison.notes)
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _is_bundled(path: str) -> bool:
    try:
        from ..datasets import default_data_path
    except ImportError:
        return False
    try:
        return Path(path).resolve() == Path(default_data_path()).resolve()
    except (OSError, TypeError):
        return False


def write_report(comparison, directory, posteriors: dict | None = None) -> Path:
    """Write ``index.html`` (self-contained) and ``subjects.csv`` (posterior trust and type of
    every subject under every model) to ``directory``; returns the HTML path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if posteriors is None:
        posteriors = {}
        for name, f in comparison.fits.items():
            p = f.subject_posteriors()
            if not p.empty:
                posteriors[name] = p
    path = directory / "index.html"
    path.write_text(render_report(comparison, posteriors), encoding="utf-8")
    if posteriors:
        frames = [p.assign(model=name) for name, p in posteriors.items()]
        pd.concat(frames, ignore_index=True).to_csv(directory / "subjects.csv", index=False)
    return path
