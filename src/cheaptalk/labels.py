"""Parameters in words: the labels that every table, summary, figure and JSON uses.

Each entry is ``(words, LaTeX)``; the symbols are those of ``docs/models.md`` (trust
``alpha``, trustworthiness ``beta``, logit precision ``lambda``, Poisson mean level ``tau``,
learning rates ``eta``). Plain Python: readers of saved results import it without JAX.
"""

from __future__ import annotations

import html
import re

__all__ = ["LABELS", "parameter_words", "parameter_label", "parameter_symbol_and_words", "escape"]

LABELS = {
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
    "eta": ("Learning rate", r"Learning rate $\eta$"),
    "eta_confirm": ("Rate of trust moved by confirming feedback", r"Confirming rate $\eta_c$"),
    "eta_disconfirm": ("Rate of trust moved by contradicting feedback", r"Contradicting rate $\eta_d$"),
    "prior_strength": ("Prior strength (median, in observations)", r"Prior strength $n_0$"),
    "prior_strength_sd": ("SD of log prior strength", r"SD of $\log n_0$"),
    "trust_after_win": ("Trust after a win", r"Trust after a win"),
    "trust_after_loss": ("Trust after a loss", r"Trust after a loss"),
    "decay": ("Decay toward initial trust per event", r"Decay $\delta$"),
}



def _split_per_type(name: str):
    m = re.match(r"^(precision_sender|precision_receiver|precision|tremble_sender|tremble_receiver)_(\w+)$", name)
    return (m.group(1), m.group(2)) if m and name not in LABELS else (None, None)


def parameter_words(name: str) -> str:
    """A parameter's label in plain words (its name with spaces when it has none)."""
    base, suffix = _split_per_type(name)
    if base:
        return f"{LABELS[base][0]} ({suffix})"
    return LABELS[name][0] if name in LABELS else name.replace("_", " ")


def parameter_symbol_and_words(name: str) -> tuple[str, str]:
    """``(words, LaTeX)`` of a parameter."""
    base, suffix = _split_per_type(name)
    if base:
        words, tex = LABELS[base]
        return f"{words} ({suffix})", f"{tex} ({escape(suffix, 'latex')})"
    return LABELS.get(name, (name.replace("_", " "), escape(name.replace("_", " "), "latex")))


def escape(text: str, fmt: str) -> str:
    """``text`` escaped for ``fmt`` (``latex``, ``html``, ``markdown``)."""
    if fmt == "latex":
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                     ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
            text = text.replace(a, b)
        return text
    if fmt == "html":
        return html.escape(text)
    return text.replace("|", r"\|")


def parameter_label(name: str, fmt: str = "markdown") -> str:
    """A parameter's label in words (LaTeX: with its symbol), escaped for ``fmt``."""
    words, tex = parameter_symbol_and_words(name)
    return tex if fmt == "latex" else escape(words, fmt)
