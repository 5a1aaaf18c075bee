"""Error models of finite sender-receiver games: how a type's payoffs become choice probabilities.

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

from .._jax import jax, jnp
from .base import Parameter

__all__ = ["ERROR_MODELS", "error_parameters", "choice_log_probabilities"]

ERROR_MODELS = ("logit", "tremble", "mixed")

# utilities within this distance (on the unit payoff range) of the best count as tied
TIE_TOL = 1e-9
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


def best_response(utility, tol: float = TIE_TOL):
    """Noiseless choice along the last axis: the best choices, ties spread evenly."""
    best = (utility >= utility.max(axis=-1, keepdims=True) - tol).astype(jnp.float64)
    return best / best.sum(axis=-1, keepdims=True)


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
        return jax.nn.log_softmax(lam * utility, axis=-1)
    if errors == "tremble":
        choice = best_response(utility) if noiseless is None else jnp.asarray(noiseless)
        return _tremble(choice, values[f"tremble_{role}"])
    if errors != "mixed":
        raise ValueError(f"unknown error model {errors!r}; error models are {', '.join(ERROR_MODELS)}")
    logit = jax.nn.log_softmax(lam * utility, axis=-1)
    mask = np.zeros(utility.shape[0], bool) if rule_types is None else np.asarray(rule_types, bool)
    if not mask.any():
        return logit
    rules = utility if rule_utility is None else jnp.broadcast_to(jnp.asarray(rule_utility), utility.shape)
    trembled = _tremble(best_response(rules), values[f"tremble_{role}"])
    return jnp.where(mask[:, None, None], trembled, logit)
