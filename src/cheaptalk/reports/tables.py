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

import html
import re
from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import InputError
from ..estimation.result import comparison_models, read_json

__all__ = ["estimation_table", "FORMATS", "table_columns", "parameter_label"]

FORMATS = ("latex", "markdown", "html")

# short labels: (words, LaTeX); the symbols are those of docs/models.md
_LABELS = {
    "trust_at_0": ("P(trust = 0)", r"$P(\alpha = 0)$"),
    "trust_at_1": ("P(trust = 1 | trust > 0)", r"$P(\alpha = 1 \mid \alpha > 0)$"),
    "trust_mean": ("Mean trust (Beta part)", r"Mean trust $\alpha$ (Beta part)"),
    "trust_concentration": ("Trust concentration (Beta part)", r"Concentration of $\alpha$"),
    "trustworthiness_at_0": ("P(trustworthiness = 0)", r"$P(\beta = 0)$"),
    "trustworthiness_at_1": ("P(trustworthiness = 1 | > 0)", r"$P(\beta = 1 \mid \beta > 0)$"),
    "trustworthiness_mean": ("Mean trustworthiness (Beta part)", r"Mean trustworthiness $\beta$ (Beta part)"),
    "trustworthiness_concentration": ("Trustworthiness concentration (Beta part)", r"Concentration of $\beta$"),
    "lying_cost_exponent": ("Lying-cost exponent", r"Lying-cost exponent $\gamma$"),
    "precision_sender": ("Sender precision", r"Sender precision $\lambda_S$"),
    "precision_receiver": ("Receiver precision", r"Receiver precision $\lambda_R$"),
    "precision": ("Precision", r"Precision $\lambda$"),
    "tremble_sender": ("Sender tremble", r"Sender tremble $e_S$"),
    "tremble_receiver": ("Receiver tremble", r"Receiver tremble $e_R$"),
    "tau_sender": ("Senders' mean level (Poisson)", r"Senders' mean level $\tau_S$"),
    "tau_receiver": ("Receivers' mean level (Poisson)", r"Receivers' mean level $\tau_R$"),
    "sender_level1_share": ("Share of senders of level >= 1", r"Share of senders of level $\geq 1$"),
    "sender_level3_share": ("Share of level >= 3 among level >= 1 senders",
                            r"Share of level $\geq 3$ among level $\geq 1$ senders"),
    "receiver_level2_share": ("Share of receivers of level >= 2", r"Share of receivers of level $\geq 2$"),
    "sender_share_trust": ("Share of trust-family senders", "Share of trust-family senders"),
    "receiver_share_trust": ("Share of trust-family receivers", "Share of trust-family receivers"),
    "babbling_report": ("Babbling report", "Babbling report"),
    "sd_report": ("SD of report errors", r"SD of report errors $\sigma_m$"),
    "sd_capacity": ("SD of capacity errors", r"SD of capacity errors $\sigma_K$"),
    "eta_up": ("Rate of trust gained", r"Rate of trust gained $\eta_{\uparrow}$"),
    "eta_down": ("Rate of trust lost", r"Rate of trust lost $\eta_{\downarrow}$"),
    "initial_trust_mean": ("Mean initial trust", r"Mean initial trust $\alpha_1$"),
    "initial_trust_concentration": ("Initial-trust concentration", r"Concentration of $\alpha_1$"),
    "sd_action": ("SD of the action", r"SD of the action $\sigma_a$"),
    "follow_slope": ("Slope of the follow decision", r"Slope of the follow decision $k$"),
}

_MODEL_NAMES = {"equilibrium": "Equilibrium", "qre": "QRE", "levelk": "Level-k", "ch": "Cognitive hierarchy",
                "trust": "Trust", "mixture": "Trust + level-k", "trust-dynamics-continuous": "Trust dynamics",
                "trust-dynamics-binary": "Trust dynamics (binary)"}
_ERRORS = {"logit": "logit", "tremble": "tremble", "mixed": "mixed"}


def parameter_label(name: str, fmt: str = "markdown") -> str:
    """A parameter's label in words (LaTeX: with its symbol); unknown names as they are."""
    m = re.match(r"^(precision_sender|precision_receiver|precision)_(\w+)$", name)   # per-type precisions
    if m and name not in _LABELS:
        words, tex = _LABELS[m.group(1)]
        return f"{tex} ({_escape(m.group(2), 'latex')})" if fmt == "latex" else \
            _escape(f"{words} ({m.group(2)})", fmt)
    if name in _LABELS:
        words, tex = _LABELS[name]
        return tex if fmt == "latex" else _escape(words, fmt)
    return _escape(name.replace("_", " "), fmt)


def _escape(text: str, fmt: str) -> str:
    if fmt == "latex":
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                     ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
            text = text.replace(a, b)
        return text
    if fmt == "html":
        return html.escape(text)
    return text.replace("|", r"\|")


# --- collecting the columns -----------------------------------------------------------

def _as_dict(source):
    if isinstance(source, (str, Path)):
        return read_json(source), str(source)
    if isinstance(source, dict):
        return source, "<dict>"
    if hasattr(source, "to_dict"):
        return source.to_dict(), type(source).__name__
    raise InputError(f"cannot make a table of a {type(source).__name__}: give fits, comparisons or their JSON")


def table_columns(*sources, models=None) -> list[dict]:
    """One entry per column: ``{"header", "fit" (fit JSON), "cv_loglik" or None}``."""
    wanted = list(models) if models else None
    columns = []
    for source in sources:
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
                columns.append({"header": _header(m, several_errors=len(errors) > 1), "fit": m,
                                "cv_loglik": m.get("cv_loglik")})
        elif isinstance(data.get("params"), dict) and "model" in data:
            label = data.get("label", data["model"])
            if wanted and label not in wanted and data["model"] not in wanted:
                continue
            columns.append({"header": _header(data, several_errors=False), "fit": data,
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
    return columns


def _header(fit: dict, several_errors: bool) -> str:
    name = _MODEL_NAMES.get(fit["model"], fit["model"])
    errors = fit.get("errors")
    if several_errors and errors:
        name += f" ({_ERRORS.get(errors, errors)})"
    return name


# --- the table ------------------------------------------------------------------------

def _stars(estimate, se) -> str:
    if estimate is None or se is None or not se > 0:
        return ""
    p = 2 * stats.norm.sf(abs(estimate / se))
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""


def _number(x, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return ""
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:,.{digits}f}" if a >= 1000 else f"{x:.{digits}f}"


def estimation_table(*sources, models=None, fmt: str = "markdown", stars: bool = False, ci: bool = False,
                     caption: str | None = None, label: str | None = None, digits: int = 3) -> str:
    """The table as text in ``fmt`` (``latex``, ``markdown`` or ``html``).

    ``stars``: ``*``, ``**``, ``***`` for two-sided p < 0.1, 0.05, 0.01 of ``estimate / se``
    against zero (noted under the table: meaningful for slopes and differences, not for
    shares, precisions or standard deviations, whose zero is a bound). ``ci``: the 95%
    interval instead of the standard error. Parameters without a standard error (at a
    bound, not identified) show a dash and a note.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}; formats are {', '.join(FORMATS)}")
    columns = table_columns(*sources, models=models)
    names = list(dict.fromkeys(p for c in columns for p in c["fit"]["params"]))
    body = []             # (label, [cells], is_second_line)
    no_se = False
    for name in names:
        first, second = [], []
        for c in columns:
            p = c["fit"]["params"].get(name)
            if p is None:
                first.append("")
                second.append("")
                continue
            est, se = p.get("estimate"), p.get("se")
            first.append(_number(est, digits) + (_stars(est, se) if stars else ""))
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
    statistics = [("Log-likelihood", [_number(c["fit"].get("loglik"), 1) for c in columns]),
                  ("Parameters", [str(c["fit"].get("n_params", "")) for c in columns]),
                  ("AIC", [_number(c["fit"].get("aic"), 1) for c in columns]),
                  ("BIC", [_number(c["fit"].get("bic"), 1) for c in columns])]
    if any(c["cv_loglik"] is not None for c in columns):
        statistics.append(("CV log-likelihood per decision", [_number(c["cv_loglik"], 4) for c in columns]))
    statistics += [(_plural(columns), [f"{c['fit'].get('n_subjects', 0):,}" for c in columns]),
                   ("Decisions", [f"{c['fit'].get('n_obs', 0):,}" for c in columns])]
    notes = [("Standard errors" if not ci else "95% intervals") + " in " + ("brackets" if ci else "parentheses")
             + ", cluster-robust by " + _cluster(columns) + "."]
    if stars:
        notes.append("* p < 0.1, ** p < 0.05, *** p < 0.01 (two-sided, against zero; not meaningful for "
                     "shares, precisions and standard deviations, whose zero is a bound).")
    if no_se:
        notes.append("(--): no standard error (a parameter at a bound of its range, or not identified by the data).")
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
