"""A self-contained HTML report of a model comparison (figures embedded as base64 PNG,
each with a caption; ``write_report`` also saves them as PNG and PDF files).

Sections: the verdict, the data (and what cleaning did), the estimates, cross-validated fit
against the best model, tests, behaviour in the data beside each fitted model (small
multiples, or choice heatmaps in finite games; :mod:`.figures`), the behavioural
regularities, each person's posterior trust and trustworthiness, welfare under each model,
and every estimation warning.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .figures import Figure, comparison_figures

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
figure { margin: .5em 0 1.5em; } figcaption { color: #444; font-size: .88em; max-width: 60em; }
code { background: #f4f4f4; padding: 0 .2em; }
"""

def _png(fig, dpi: int = 90) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig: Figure) -> str:
    """A figure embedded with its heading and caption."""
    return (f"<h2>{html.escape(fig.title)}</h2><figure><img src=\"{_png(fig.figure)}\" "
            f"alt=\"{html.escape(fig.title)}\"><figcaption>{html.escape(fig.caption)}</figcaption></figure>")


def _table(frame: pd.DataFrame, index: bool = True, digits: int = 4) -> str:
    return frame.to_html(index=index, border=0, na_rep="", escape=True,
                         float_format=lambda v: f"{v:.{digits}g}")


def _welfare_frame(comparison) -> pd.DataFrame:
    """Welfare by model and treatment, the data's own first (finite games)."""
    rows = []
    sources = {**({"data": comparison.data_welfare} if getattr(comparison, "data_welfare", None) else {}),
               **comparison.welfare}
    for name, by_treatment in sources.items():
        for t, values in (by_treatment or {}).items():
            rows.append({"model": name, "treatment": t, **{k: v for k, v in values.items()
                                                           if isinstance(v, (int, float, np.floating))}})
    return pd.DataFrame(rows)


def _data_summary(comparison) -> str:
    """What the data are when no cleaning report came with them (a DataFrame from Python)."""
    data = comparison.data
    lines = [f"{comparison.data_path}: used as given (not cleaned by cheaptalk; "
             "cheaptalk.data.validation.clean_decisions would check and report it)",
             f"{len(data)} decisions of {data['subject'].astype(str).nunique()} subjects"]
    for (t, role), n in data.groupby([data["treatment"].astype(str) if "treatment" in data else "default",
                                      "role"]).size().items():
        lines.append(f"  treatment {t}, {role}s: {n} decisions")
    return "\n".join(lines)


def _posteriors(comparison) -> dict:
    posteriors = {}
    for name, f in comparison.fits.items():
        try:
            p = f.subject_posteriors()
        except Exception:      # a model without type attributes has no posteriors to show
            continue
        if not p.empty:
            posteriors[name] = p
    return posteriors


def render_report(comparison, posteriors: dict | None = None, figures: list | None = None) -> str:
    """The report as one HTML string (``figures``: from :func:`.figures.comparison_figures`,
    made here when not given)."""
    if posteriors is None:
        posteriors = _posteriors(comparison)
    own = figures is None
    if own:
        figures = comparison_figures(comparison, posteriors, _welfare_frame(comparison))
    by_name = {f.name: f for f in figures}
    game = comparison.game
    synthetic = _is_bundled(comparison.data_path)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>cheaptalk: model comparison on {html.escape(game.name)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Which theory explains the data? {html.escape(game.name)}</h1>",
             f"<p class='note'>Data: <code>{html.escape(comparison.data_path)}</code>"
             + (" &mdash; <b>the bundled synthetic data set</b> (simulated, not real lab data)" if synthetic else "")
             + f". {len(comparison.data)} decisions; {len(comparison.fits)} models; "
             f"generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in {comparison.seconds:.1f} s.</p>"]
    verdict = comparison.verdict
    parts.append("<h2>Verdict</h2>")
    parts.append("<p class='note'>" + ("Under each error model (docs/models.md, section 4), the "
                 f"{100 * comparison.level:.0f}% model confidence set of the families on the subjects' held-out "
                 "log-likelihoods: the families the held-out data cannot tell apart from the best. Beside it, the "
                 "family with the highest held-out score and its difference per decision to the runner-up, with "
                 "its standard error paired by subject." if verdict.get("confidence_sets") else
                 "By BIC; without cross-validation the ranking's uncertainty is not assessed.") + "</p>")
    parts.append(f"<p><b>{html.escape(verdict['statement'])}</b></p>")
    parts.append(_table(comparison.verdict_table(), index=False))
    if comparison.failed or comparison.skipped:
        parts.append("<ul>" + "".join(f"<li class='warn'><b>{html.escape(k)}</b> failed: {html.escape(v)}</li>"
                                      for k, v in comparison.failed.items())
                     + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                               for k, v in comparison.skipped.items()) + "</ul>")
    parts.append("<h2>Data and cleaning</h2><pre>" + html.escape(
        str(comparison.cleaning) if comparison.cleaning is not None else _data_summary(comparison)) + "</pre>")

    parts.append("<h2>Estimates and fit</h2>")
    parts.append("<p class='note'>Maximum likelihood; standard errors (in parentheses) cluster-robust by "
                 "subject; <i>(bound)</i>: estimate at a bound, no standard error; <i>(--)</i>: not identified "
                 f"(flat likelihood). Highest {'cross-validated log-likelihood' if comparison.cv else 'BIC'}: "
                 f"<b>{html.escape(comparison.best)}</b> (what the data support is the verdict above).</p>")
    parts.append(_table(comparison.table()))
    if "cv_differences" in by_name:
        parts.append(_figure(by_name["cv_differences"]))
    if comparison.vuong:
        parts.append("<h2>Vuong tests</h2><p class='note'>Non-nested pairs, subject-level contributions, "
                     "Schwarz-corrected; z &gt; 0 favours model A.</p>")
        parts.append(_table(pd.DataFrame(comparison.vuong)[["model_a", "model_b", "z", "p_value", "favours"]],
                            index=False))
    if comparison.lr_tests:
        parts.append("<h2>Likelihood-ratio tests (nested pairs)</h2>")
        parts.append(_table(pd.DataFrame(comparison.lr_tests), index=False))

    for fig in figures:
        if fig.name.startswith(("sender_", "receiver_")):
            parts.append(_figure(fig))
    if comparison.regularities is not None:
        parts.append("<h2>Behavioural regularities</h2><p class='note'>Data beside each fitted model "
                     "(simulated with the design of the data).</p>")
        parts.append(_table(comparison.regularities, index=False, digits=3))

    if "trust_posteriors" in by_name:
        parts.append(_figure(by_name["trust_posteriors"]))
    if posteriors:
        for name, post in posteriors.items():
            summary = (post.groupby(["role", "attribute"])["mean"]
                       .describe(percentiles=[0.1, 0.5, 0.9])[["count", "mean", "10%", "50%", "90%"]])
            parts.append(f"<p><b>{html.escape(name)}</b></p>" + _table(summary, digits=3))

    welfare = _welfare_frame(comparison)
    if not welfare.empty:
        if "welfare" in by_name:
            parts.append(_figure(by_name["welfare"]))
        else:
            parts.append("<h2>Welfare under each fitted model</h2>")
        parts.append(_table(welfare, index=False))

    warn = [(n, w) for n, f in comparison.fits.items() for w in f.warnings]
    if warn or comparison.notes:
        parts.append("<h2>Warnings</h2><ul>")
        parts.extend(f"<li class='warn'><b>{html.escape(n)}</b>: {html.escape(w)}</li>" for n, w in warn)
        parts.extend(f"<li class='warn'>{html.escape(n)}</li>" for n in comparison.notes)
        parts.append("</ul>")
    parts.append("</body></html>")
    if own:
        for fig in figures:
            fig.close()
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
    """Write ``index.html`` (self-contained), every figure as ``figures/NAME.png`` and
    ``figures/NAME.pdf`` with its caption in ``figures/NAME.txt``, and ``subjects.csv``
    (posterior trust and type of every subject under every model) to ``directory``;
    returns the HTML path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if posteriors is None:
        posteriors = _posteriors(comparison)
    figures = comparison_figures(comparison, posteriors, _welfare_frame(comparison))
    try:
        path = directory / "index.html"
        path.write_text(render_report(comparison, posteriors, figures), encoding="utf-8")
        folder = directory / "figures"
        folder.mkdir(exist_ok=True)
        for fig in figures:
            fig.figure.savefig(folder / f"{fig.name}.png", dpi=200, bbox_inches="tight")
            fig.figure.savefig(folder / f"{fig.name}.pdf", bbox_inches="tight")
            (folder / f"{fig.name}.txt").write_text(f"{fig.title}\n\n{fig.caption}\n", encoding="utf-8")
    finally:
        for fig in figures:
            fig.close()
    if posteriors:
        frames = [p.assign(model=name) for name, p in posteriors.items()]
        pd.concat(frames, ignore_index=True).to_csv(directory / "subjects.csv", index=False)
    return path
