"""Estimation tables for papers: several models side by side, in LaTeX, Markdown or HTML.

Laid out as economists print them: one column per model, each parameter's estimate with
its standard error in parentheses below (or the 95% interval), optional significance
stars, then fit statistics (log-likelihood, parameters, AIC, BIC, cross-validated
log-likelihood per decision, subjects, decisions). Parameters are labelled in words and,
in LaTeX, with the symbols of ``docs/models.md`` (trust ``alpha``, trustworthiness ``beta``,
logit precision ``lambda``, Poisson mean level ``tau``, learning rates ``eta``).

Input is any mix of fits (:class:`~cheaptalk.estimation.result.EstimationResult`, a fit
JSON as a dict or a file) and comparisons (a :class:`~cheaptalk.comparison.Comparison`, its
JSON or file): a comparison contributes the models of its best error model (every model
if it has one error model), or those named in ``models``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import InputError
from ..estimation.result import comparison_models, read_json
from ..estimation.schema import check_result
from ..labels import escape as _escape, parameter_label

__all__ = ["estimation_table", "FORMATS", "table_columns", "parameter_label"]

FORMATS = ("latex", "markdown", "html")

_MODEL_NAMES = {"equilibrium": "Equilibrium", "qre": "QRE", "levelk": "Level-k", "ch": "Cognitive hierarchy",
                "trust": "Trust", "mixture": "Mixture", "trust-dynamics-continuous": "Trust dynamics",
                "trust-dynamics-binary": "Trust dynamics"}


# --- collecting the columns -----------------------------------------------------------

def _sources(sources) -> list:
    """Flatten lists and tuples of results; a dict of results ``{column name: result}`` (one
    that is not itself a fit or comparison JSON) becomes ``(name, result)`` pairs."""
    out = []
    for source in sources:
        if isinstance(source, (list, tuple)):
            out.extend(_sources(source))
        elif isinstance(source, dict) and not ({"model", "params", "models"} & set(source)):
            out.extend((str(name), value) for name, value in source.items())
        else:
            out.append(source)
    return out


def _as_dict(source):
    if isinstance(source, (str, Path)):
        data = read_json(source)
        check_result(data, str(source))
        return data, str(source)
    if isinstance(source, dict):
        return source, "<dict>"
    if hasattr(source, "to_dict"):
        return source.to_dict(), type(source).__name__
    raise InputError(f"cannot make a table of a {type(source).__name__}: give fits, comparisons or their JSON")


def table_columns(*sources, models=None, names=None) -> list[dict]:
    """One entry per column: ``{"header", "fit" (fit JSON), "cv_loglik" or None}``.
    ``sources``: results, JSON dicts or files, lists of them, or a dict ``{name: result}``
    (its keys name the columns). ``names``: column headers, overriding the generated ones."""
    wanted = list(models) if models else None
    columns = []
    for source in _sources(sources):
        given_name = None
        if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], str):
            given_name, source = source
        data, where = _as_dict(source)
        if not isinstance(data, dict):
            raise InputError(f"{where}: neither a fit JSON nor a comparison JSON")
        models = comparison_models(data)
        if models is not None:
            entries = [m for m in models if isinstance(m, dict) and "params" in m]
            errors = list(data.get("errors") or [])
            if wanted:
                chosen = [m for m in entries if m.get("label", m.get("model")) in wanted]
            elif len(errors) > 1 and (data.get("verdict") or {}).get("best"):
                best_errors = data["verdict"]["best"].get("errors")
                chosen = [m for m in entries if m.get("errors") == best_errors]
            else:
                chosen = entries
            for m in chosen:
                columns.append({"header": given_name or _header(m), "fit": m, "cv_loglik": m.get("cv_loglik")})
        elif isinstance(data.get("params"), dict) and "model" in data:
            label = data.get("label", data["model"])
            if wanted and label not in wanted and data["model"] not in wanted:
                continue
            columns.append({"header": given_name or _header(data), "fit": data,
                            "cv_loglik": data.get("cv_loglik")})
        else:
            raise InputError(f"{where}: neither a fit JSON nor a comparison JSON")
    if wanted:
        found = {c["fit"].get("label", c["fit"]["model"]) for c in columns} | {c["fit"]["model"] for c in columns}
        missing = [w for w in wanted if w not in found]
        if missing:
            raise InputError(f"no model {', '.join(map(repr, missing))} in the given results")
    if not columns:
        raise InputError("no models to put in the table")
    if names is not None:
        names = list(names)
        if len(names) != len(columns):
            raise InputError(f"{len(names)} column names for {len(columns)} columns")
        for c, n in zip(columns, names):
            c["header"] = n
    return columns


def _header(fit: dict) -> str:
    """A column's name: the family (a mixture's own families), then its error model or its
    learning rule and adoption (trust over time), so that two different fits never share one."""
    model = fit["model"]
    name = _MODEL_NAMES.get(model, model)
    options = fit.get("options") or {}
    if model == "mixture" and isinstance(options.get("families"), list):
        name = " + ".join(_MODEL_NAMES.get(f, f) for f in options["families"])
    details = []
    if model.startswith("trust-dynamics"):
        details += [str(fit.get("rule", "asymmetric")), str(fit.get("adoption", model.rsplit("-", 1)[-1]))]
    elif fit.get("errors"):
        details.append(f"{fit['errors']} errors")
    return name + (f" ({', '.join(details)})" if details else "")


# --- the table ------------------------------------------------------------------------

def _zero_inside(p: dict) -> bool:
    """Whether zero lies strictly inside the parameter's range (what a star tests against);
    not for shares, precisions and standard deviations, whose zero is a bound."""
    b = p.get("bounds")
    if not (isinstance(b, list) and len(b) == 2):
        return False
    lo = -np.inf if b[0] is None else b[0]
    hi = np.inf if b[1] is None else b[1]
    return lo < 0 < hi


def _stars(estimate, se) -> str:
    if estimate is None or se is None or not se > 0:
        return ""
    p = 2 * stats.norm.sf(abs(estimate / se))
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


def _statistic(x) -> str:
    """A log-likelihood or information criterion in full: thousands separators, one decimal."""
    if x is None or not np.isfinite(x):
        return ""
    return f"{x:,.1f}"


def _number(x, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return ""
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:,.{digits}f}" if a >= 1000 else f"{x:.{digits}f}"


def estimation_table(*sources, models=None, fmt: str = "markdown", stars: bool = False, ci: bool = False,
                     caption: str | None = None, label: str | None = None, digits: int = 3,
                     names=None) -> str:
    """The table as text in ``fmt`` (``latex``, ``markdown`` or ``html``).

    ``sources``: fits, comparisons, their JSON (dicts or files), lists of them, or a dict
    ``{column name: result}``. ``names``: the column headers (default: family, error model or
    learning rule). ``stars``: ``*``, ``**``, ``***`` for two-sided p < 0.1, 0.05, 0.01 of
    ``estimate / se`` against zero, only on parameters whose zero lies inside their range
    (slopes, differences; never shares, precisions or standard deviations, whose zero is a
    bound). ``ci``: the 95% interval instead of the standard error. Parameters without a
    standard error (at a bound) show a dash; parameters the fit finds not identified say so
    instead of a number. Log-likelihoods and information criteria are printed in full.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}; formats are {', '.join(FORMATS)}")
    columns = table_columns(*sources, models=models, names=names)
    params = list(dict.fromkeys(p for c in columns for p in c["fit"]["params"]))
    body = []             # (label, [cells], is_second_line)
    no_se = not_identified = starred = False
    for name in params:
        first, second = [], []
        for c in columns:
            p = c["fit"]["params"].get(name)
            if p is None:
                first.append("")
                second.append("")
                continue
            est, se = p.get("estimate"), p.get("se")
            if p.get("identified") is False:
                not_identified = True
                first.append("not identified")
                second.append("")
                continue
            star = _stars(est, se) if stars and _zero_inside(p) else ""
            starred = starred or bool(star)
            first.append(_number(est, digits) + star)
            if se is None:
                no_se = True
                second.append("(--)")
            elif ci:
                lo, hi = (c["fit"].get("diagnostics", {}).get("ci95", {}).get(name) or [None, None])
                second.append(f"[{_number(lo, digits)}, {_number(hi, digits)}]" if lo is not None else "")
            else:
                second.append(f"({_number(se, digits)})")
        body.append((parameter_label(name, fmt), first, False))
        body.append(("", second, True))
    statistics = [("Log-likelihood", [_statistic(c["fit"].get("loglik")) for c in columns]),
                  ("Parameters", [str(c["fit"].get("n_params", "")) for c in columns]),
                  ("AIC", [_statistic(c["fit"].get("aic")) for c in columns]),
                  ("BIC", [_statistic(c["fit"].get("bic")) for c in columns])]
    if any(c["cv_loglik"] is not None for c in columns):
        statistics.append(("Held-out log-likelihood per decision (CV)",
                           [_number(c["cv_loglik"], 4) for c in columns]))
    statistics += [(_plural(columns), [f"{c['fit'].get('n_subjects', 0):,}" for c in columns]),
                   ("Decisions", [f"{c['fit'].get('n_obs', 0):,}" for c in columns])]
    notes = [("Standard errors" if not ci else "95% intervals") + " in " + ("brackets" if ci else "parentheses")
             + ", cluster-robust by " + _cluster(columns) + "."]
    if stars:
        notes.append("* p < 0.1, ** p < 0.05, *** p < 0.01 (two-sided, against zero), shown only for parameters "
                     "whose zero lies inside their range" + ("" if starred else " (none here)") + ".")
    if no_se:
        notes.append("(--): no standard error (a parameter at a bound of its range).")
    if not_identified:
        notes.append("Not identified: the likelihood is flat in a direction loading on the parameter; "
                     "its value is not an estimate.")
    if ci:
        notes.append("Intervals formed on each parameter's unbounded scale (logit or log) and mapped back.")
    degenerate = [c["header"] for c in columns if c["fit"].get("diagnostics", {}).get("degenerate")]
    if degenerate:
        notes.append("Degenerate fit (predicts uniform choice, explains nothing beyond chance): "
                     + ", ".join(degenerate) + ".")
    flagged = [c["header"] for c in columns if not c["fit"].get("converged", True)]
    if flagged:
        notes.append("Did not converge: " + ", ".join(flagged) + ".")
    headers = [c["header"] for c in columns]
    render = {"latex": _latex, "markdown": _markdown, "html": _html}[fmt]
    return render(headers, body, statistics, notes, caption, label)


def _plural(columns) -> str:
    units = {c["fit"].get("cluster", "subject") for c in columns}
    return "Subjects" if units == {"subject"} else "Sellers" if units == {"seller"} else "Clusters"


def _cluster(columns) -> str:
    units = sorted({c["fit"].get("cluster", "subject") for c in columns})
    return " or ".join(units)


def _latex(headers, body, statistics, notes, caption, label) -> str:
    esc = lambda t: _escape(t, "latex")  # noqa: E731
    cols = "l" + "c" * len(headers)
    lines = [r"\begin{table}[htbp]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + esc(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines += [r"\begin{tabular}{" + cols + "}", r"\toprule",
              " & ".join([""] + [esc(h) for h in headers]) + r" \\", r"\midrule"]
    for text, cells, _ in body:
        lines.append(" & ".join([text] + [esc(c) for c in cells]) + r" \\")
    lines.append(r"\midrule")
    for text, cells in statistics:
        lines.append(" & ".join([esc(text)] + [esc(c) for c in cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\smallskip\parbox{\linewidth}{\footnotesize " + " ".join(esc(n) for n in notes) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def _markdown(headers, body, statistics, notes, caption, label) -> str:
    esc = lambda t: _escape(t, "markdown")  # noqa: E731
    lines = []
    if caption:
        lines += [f"**{esc(caption)}**", ""]
    lines.append("| " + " | ".join([""] + [esc(h) for h in headers]) + " |")
    lines.append("|" + "---|" + "---:|" * len(headers))
    for text, cells, _ in body:
        lines.append("| " + " | ".join([text] + [esc(c) for c in cells]) + " |")
    for text, cells in statistics:
        lines.append("| " + " | ".join([f"*{esc(text)}*"] + cells) + " |")
    lines += ["", " ".join(esc(n) for n in notes)]
    return "\n".join(lines) + "\n"


def _html(headers, body, statistics, notes, caption, label) -> str:
    esc = lambda t: _escape(t, "html")  # noqa: E731
    lines = ['<table class="estimation-table">']
    if caption:
        lines.append(f"<caption>{esc(caption)}</caption>")
    lines.append("<thead><tr><th></th>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead><tbody>")
    for text, cells, second in body:
        cls = ' class="se"' if second else ""
        lines.append(f"<tr{cls}><th>{text}</th>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    for i, (text, cells) in enumerate(statistics):
        cls = ' class="stat first"' if i == 0 else ' class="stat"'
        lines.append(f"<tr{cls}><th>{esc(text)}</th>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    lines.append("</tbody>")
    lines.append(f'<tfoot><tr><td colspan="{len(headers) + 1}">' + " ".join(esc(n) for n in notes)
                 + "</td></tr></tfoot></table>")
    return "\n".join(lines) + "\n"
