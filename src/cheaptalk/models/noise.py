"""Response noise shared by every model, so that comparisons are fair (docs/models.md, section 4).

* Continuous choices (G1 report and capacity): each type's deterministic prediction plus
  normal error with a standard deviation per role, censored at the bounds of the choice
  space: an observation at a bound has the probability mass beyond it.
* Finite choices (G2): an error model turns each type's utilities into choice probabilities
  (below).

A truthful sender gets the same tremble whether she is a level-0 type or a trust type
with ``beta = 1``: both call the same function with the same parameters.

Error models of finite games
----------------------------
Every family (equilibrium, level-k, cognitive hierarchy, trust, mixtures) says what each of
its types maximizes: a utility table ``U_t[x, y]`` over the choices ``y`` (messages of a
sender in state ``x``, actions of a receiver who saw message ``x``), on payoffs normalized
to a unit range per role. The error model turns those utilities into probabilities, and it
is applied the same way to every family, so that a comparison between families is not made
by the noise (the fairness rule of ``docs/models.md``):

``logit``
    every type chooses by the logit of its utilities, one precision per role,
    ``P_t(y | x) = exp(lambda U_t[x, y]) / sum_y' exp(lambda U_t[x, y'])``;
``tremble``
    every type makes its noiseless choice (its best response; ties spread evenly) with
    probability ``1 - e`` and otherwise chooses uniformly among the ``Y`` choices, one ``e``
    per role: ``P_t(y | x) = (1 - e) BR_t(y | x) + e / Y``;
``mixed``
    the *rule-following* types tremble with their own ``e`` (per role), the optimizing types
    choose by logit. The rule types are the truthful sender (she sends a message whose
    literal meaning is her state) and the credulous receiver (he best-responds to the literal
    meaning): level 0 of level-k and cognitive hierarchy, and the masses at trustworthiness
    1 and trust 1 of the trust model. Families without rule types (equilibrium, QRE) are the
    same under ``mixed`` as under ``logit``.

Real senders often tell the exact truth (30-70% of reports in lab data): under ``logit`` a
truthful type at a moderate precision spreads much of her mass over lies, so only ``mixed``
and ``tremble`` let a rule type be as exact as people are. Every comparison therefore fits
each family under each error model and reports whether the verdict holds under all of them.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .._jax import jax, jnp
from .base import Parameter

__all__ = ["censored_normal_logpdf", "censored_uniform_normal_logpdf", "logit_logprob",
           "boundary_flags", "BOUND_TOL", "ERROR_MODELS", "TIE_TOL", "best_response", "error_parameters",
           "choice_log_probabilities"]

BOUND_TOL = 1e-6
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def boundary_flags(x, low, high, tol: float = BOUND_TOL):
    """Which observations sit at the lower and upper bound (relative tolerance of the range)."""
    x = np.asarray(x, float)
    low = np.broadcast_to(np.asarray(low, float), x.shape)
    high = np.broadcast_to(np.asarray(high, float), x.shape)
    eps = tol * (high - low)
    return x <= low + eps, x >= high - eps


def censored_normal_logpdf(x, mu, sd, at_low, at_high, low, high):
    """Log density of ``x = clip(mu + sd * e, low, high)``, ``e ~ N(0, 1)``.

    ``x``, ``low`` and ``high`` are (N, 1); ``mu`` is (N, T). ``at_low``/``at_high`` are
    boolean numpy arrays (N,) saying which observations sit at a bound: that is data, known
    before the parameters, so the normal tail probabilities are computed only for those
    rows, which keeps the likelihood cheap.
    """
    z = (x - mu) / sd
    out = -0.5 * z ** 2 - _LOG_SQRT_2PI - jnp.log(sd)
    for rows, tail in ((np.flatnonzero(at_low), lambda r: (low[r] - mu[r]) / sd),
                       (np.flatnonzero(at_high), lambda r: (mu[r] - high[r]) / sd)):
        if rows.size:
            out = out.at[rows].set(jax.scipy.special.log_ndtr(tail(rows)))
    return out


def _integrated_ndtr(z):
    """``int_{-inf}^z Phi(t) dt = z Phi(z) + phi(z)``."""
    return z * jax.scipy.special.ndtr(z) + jnp.exp(-0.5 * z ** 2 - _LOG_SQRT_2PI)


def censored_uniform_normal_logpdf(x, left, right, sd, at_low, at_high, low, high):
    """Log density of ``clip(U + sd * e, low, high)`` with ``U ~ Uniform[left, right]``.

    This is how a type indifferent among all reports in ``[left, right]`` (the level-1
    sender of forecast sharing) reports under noise; ``right - left -> 0`` gives the
    censored normal.
    """
    width = jnp.maximum(right - left, 1e-9 * sd)
    ndtr = jax.scipy.special.ndtr
    # interior: (Phi((x-left)/sd) - Phi((x-right)/sd)) / width
    dens = (ndtr((x - left) / sd) - ndtr((x - right) / sd)) / width
    # mass at or below `low`: E_U Phi((low-U)/sd) = sd/width * [I((low-left)/sd) - I((low-right)/sd)]
    mass_low = sd / width * (_integrated_ndtr((low - left) / sd) - _integrated_ndtr((low - right) / sd))
    mass_high = sd / width * (_integrated_ndtr((right - high) / sd) - _integrated_ndtr((left - high) / sd))
    tiny = 1e-300
    return jnp.where(at_low, jnp.log(jnp.maximum(mass_low, tiny)),
                     jnp.where(at_high, jnp.log(jnp.maximum(mass_high, tiny)), jnp.log(jnp.maximum(dens, tiny))))


def logit_logprob(utility, precision, axis: int = -1):
    """Log choice probabilities ``log softmax(precision * utility)`` along ``axis``.

    Utilities must already be normalized to a unit range for their role.
    """
    return jax.nn.log_softmax(precision * utility, axis=axis)


# --- finite games: error models ------------------------------------------------------------------

# utilities within this distance (on the unit payoff range) of the best count as tied
TIE_TOL = 1e-9


def best_response(utility, xp=np, tol: float = TIE_TOL):
    """Deterministic best response along the last axis, ties spread uniformly."""
    best = utility >= utility.max(axis=-1, keepdims=True) - tol
    best = best.astype(float) if xp is np else best.astype(jnp.float64)
    return best / best.sum(axis=-1, keepdims=True)


ERROR_MODELS = ("logit", "tremble", "mixed")

# probabilities are floored here inside logs so that a zero-probability choice under a pure
# strategy (tremble 0) gives a finite, very low log-likelihood instead of -inf
_LOG_FLOOR = 1e-300

_RULES = {"sender": "the truthful sender (a message whose literal meaning is her state)",
          "receiver": "the credulous receiver (a best response to the literal meaning)"}


def error_parameters(errors: str, rule_roles=("sender", "receiver"), tie: bool = False,
                     default_precision: float = 10.0, type_groups: dict | None = None) -> list[Parameter]:
    """The noise parameters of an error model: logit precisions (``logit``, ``mixed``; one per
    role, one tied ``precision``, or with ``type_groups`` = ``{role: [group, ...]}`` one per
    group of types, ``precision_<role>_<group>``) and tremble probabilities (``tremble``: per
    role; ``mixed``: per role that has a rule type, listed in ``rule_roles``)."""
    params = []
    if errors in ("logit", "mixed") and type_groups is not None:
        params += [Parameter(f"precision_{role}_{group}", default_precision, 0.0, 500.0,
                             f"logit precision of {role}s of type {group} on payoffs normalized to a unit range")
                   for role in ("sender", "receiver") for group in dict.fromkeys(type_groups[role])]
    elif errors in ("logit", "mixed"):
        if tie:
            params.append(Parameter("precision", default_precision, 0.0, 500.0,
                                    "logit precision of both roles on payoffs normalized to a unit range"))
        else:
            params += [Parameter(f"precision_{role}", default_precision, 0.0, 500.0,
                                 f"{role}'s logit precision on payoffs normalized to a unit range")
                       for role in ("sender", "receiver")]
    if errors == "tremble":
        params += [Parameter(f"tremble_{role}", 0.2, 0.0, 1.0,
                             f"probability that a {role} chooses uniformly instead of her best response")
                   for role in ("sender", "receiver")]
    elif errors == "mixed":
        params += [Parameter(f"tremble_{role}", 0.2, 0.0, 1.0,
                             f"probability that {_RULES[role]} chooses uniformly instead of following the rule")
                   for role in ("sender", "receiver") if role in rule_roles]
    return params


def _precision(values: dict, role: str):
    if "precision" in values:
        return values["precision"]
    return values.get(f"precision_{role}", 0.0)      # 0: per-type precisions are passed instead


def _tremble(choice, e):
    n = choice.shape[-1]
    return jnp.log(jnp.maximum((1.0 - e) * choice + e / n, _LOG_FLOOR))


def choice_log_probabilities(errors: str, values: dict, role: str, utility, rule_types=None,
                             rule_utility=None, noiseless=None, precision=None):
    """Log choice probabilities ``(T, X, Y)`` of every type from its utilities ``(T, X, Y)``.

    ``rule_types``: boolean ``(T,)``, which types follow a rule (used by ``mixed``);
    ``rule_utility``: the utilities whose best response is the rule (default ``utility``;
    the trust model passes the truth payoff for its trustworthiness-1 sender);
    ``noiseless``: the types' noiseless choice probabilities under ``tremble`` when they are
    not simply the best responses to ``utility`` (a mixed equilibrium's strategies);
    ``precision``: a precision per type ``(T,)`` instead of the role's one.
    """
    utility = jnp.asarray(utility)
    lam = _precision(values, role) if precision is None else jnp.asarray(precision)[:, None, None]
    if errors == "logit":
        return logit_logprob(utility, lam)
    if errors == "tremble":
        choice = best_response(utility, xp=jnp) if noiseless is None else jnp.asarray(noiseless)
        return _tremble(choice, values[f"tremble_{role}"])
    if errors != "mixed":
        raise ModelError(f"unknown error model {errors!r}; error models are {', '.join(ERROR_MODELS)}")
    logit = logit_logprob(utility, lam)
    mask = np.zeros(utility.shape[0], bool) if rule_types is None else np.asarray(rule_types, bool)
    if not mask.any():
        return logit
    rules = utility if rule_utility is None else jnp.broadcast_to(jnp.asarray(rule_utility), utility.shape)
    trembled = _tremble(best_response(rules, xp=jnp), values[f"tremble_{role}"])
    return jnp.where(mask[:, None, None], trembled, logit)
