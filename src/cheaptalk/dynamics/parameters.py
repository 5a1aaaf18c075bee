"""Parameters of the dynamic trust model: names, descriptions, the unconstrained scale the
optimizer works on, and the initial-trust quadrature nodes.

Plain numpy, so that the compiled likelihood passes (and Spark's Python workers, which run
them) need not import JAX; :mod:`cheaptalk.dynamics.model` re-exports all of it.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import ModelError

__all__ = ["ADOPTION_KINDS", "PARAMETER_NAMES", "DESCRIPTIONS", "DEFAULT_NODES", "to_natural",
           "to_unconstrained", "natural_jacobian", "initial_trust_nodes", "TRANSFORMS", "RULES",
           "RATE_NAMES", "parameter_names", "expansion_matrix", "rule_values", "check_rule", "split_rule",
           "rate_names", "DECAY", "base_name", "segment_name", "ByBaseName", "N_COORDINATES", "LEANING_WIDTH", "leaning", "node_grid", "strength_nodes",
           "STRENGTH_NODES"]

ADOPTION_KINDS = ("continuous", "binary")
DEFAULT_NODES = 20

# Learning rules of trust (docs/dynamics.md): how trust alpha moves after feedback f.
#   asymmetric:   alpha' = alpha + eta_b (f - alpha), eta_up if f >= alpha (trust gained),
#                 eta_down if f < alpha (trust lost)
#   symmetric:    one rate eta for both (asymmetric with eta_up = eta_down: nested in it)
#   confirmation: eta_confirm when the feedback confirms the current leaning, eta_disconfirm
#                 when it contradicts it; the leaning is smooth: a trust alpha leans high with
#                 weight lambda(alpha) = sigmoid((alpha - 1/2) / LEANING_WIDTH), so the rate is
#                 w eta_confirm + (1 - w) eta_disconfirm with w = lambda(alpha) after good news
#                 (f >= alpha) and w = 1 - lambda(alpha) after bad news
#   bayes:        trust is the posterior mean of the fidelity under a Beta prior of mean
#                 alpha_1 and strength n0: after the k-th feedback,
#                 alpha' = alpha + (f - alpha) / (n0 + k), a rate that falls as evidence grows;
#                 n0 varies across sellers, log n0 ~ N(log prior_strength, prior_strength_sd^2)
#   wsls:         win-stay / lose-shift: trust after feedback is trust_after_win if f >= 1/2,
#                 trust_after_loss otherwise, whatever it was before (a memoryless baseline)
RULES = ("asymmetric", "symmetric", "confirmation", "bayes", "wsls")
# how sharply the confirmation rule's leaning turns at trust 1/2: lambda = 0.12 at trust 0.4
# and 0.88 at 0.6. A sharp switch would make the log-likelihood jump wherever a trust path
# crosses 1/2 (a staircase on which no optimizer finds a maximum to better than whole
# log-likelihood units); this width keeps it smooth.
LEANING_WIDTH = 0.05
RATE_NAMES = {"asymmetric": ("eta_up", "eta_down"), "symmetric": ("eta",),
              "confirmation": ("eta_confirm", "eta_disconfirm"), "bayes": ("prior_strength", "prior_strength_sd"),
              "wsls": ("trust_after_win", "trust_after_loss")}
# The decay option of every rule, written RULE+decay: between feedback events trust drifts back
# toward the seller's initial trust, alpha' = alpha + decay (alpha_1 - alpha) after each event
# without feedback; the rule's update applies after each event with feedback.
DECAY = "+decay"
# coordinates of the compiled passes: the rule's two, the initial-trust mean and
# concentration, the noise scale, the decay rate
N_COORDINATES = 6

PARAMETER_NAMES = {
    "continuous": ("eta_up", "eta_down", "initial_trust_mean", "initial_trust_concentration",
                   "sd_action"),
    "binary": ("eta_up", "eta_down", "initial_trust_mean", "initial_trust_concentration",
               "follow_slope"),
}

DESCRIPTIONS = {
    "eta_up": "rate at which trust moves up towards a fidelity above it",
    "eta_down": "rate at which trust moves down towards a fidelity below it",
    "eta": "rate at which trust moves towards the fidelity seen (both directions)",
    "eta_confirm": "rate at which trust moves towards a fidelity that confirms its leaning",
    "eta_disconfirm": "rate at which trust moves towards a fidelity that contradicts its leaning",
    "prior_strength": "median weight n0 of the prior, in fidelity observations (Bayesian learner)",
    "prior_strength_sd": "sd of log n0 across sellers (Bayesian learner)",
    "trust_after_win": "trust after feedback of fidelity at least 1/2 (win-stay / lose-shift)",
    "trust_after_loss": "trust after feedback of fidelity below 1/2 (win-stay / lose-shift)",
    "decay": "share of the distance back to initial trust covered after each event without feedback",
    "initial_trust_mean": "mean of the Beta distribution of initial trust across sellers",
    "initial_trust_concentration": "a + b of the Beta distribution of initial trust",
    "sd_action": "sd of the normal error of the continuous action",
    "follow_slope": "slope of logit P(follow) on logit(trust)",
}

def base_name(name: str) -> str:
    """A parameter's name without its segment: ``initial_trust_mean[advisor 1]`` ->
    ``initial_trust_mean`` (initial trust by segment, :func:`parameter_names`)."""
    return name.split("[", 1)[0]


def segment_name(name: str, segment) -> str:
    return f"{name}[{segment}]"


class ByBaseName(dict):
    """A table keyed by parameter name that answers for a segment's parameter with the
    entry of its base name (its transform, its range)."""

    def __missing__(self, name):
        base = base_name(name)
        if base == name:
            raise KeyError(name)
        return self[base]

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name):
        return dict.__contains__(self, name) or dict.__contains__(self, base_name(name))


# transforms: 'logit' maps (0, 1), 'log' maps (0, inf) to the real line
_TRANSFORMS = {"eta_up": "logit", "eta_down": "logit", "eta": "logit", "eta_confirm": "logit",
               "eta_disconfirm": "logit", "prior_strength": "log", "prior_strength_sd": "log",
               "trust_after_win": "logit",
               "trust_after_loss": "logit", "decay": "logit", "initial_trust_mean": "logit",
               "initial_trust_concentration": "log", "sd_action": "log", "follow_slope": "log"}


_TRANSFORMS = ByBaseName(_TRANSFORMS)
TRANSFORMS = _TRANSFORMS


def leaning(alpha):
    """The confirmation rule's weight of a high leaning, ``sigmoid((alpha - 1/2) / LEANING_WIDTH)``."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(alpha, float) - 0.5) / LEANING_WIDTH))


def split_rule(rule: str) -> tuple[str, bool]:
    """``"bayes+decay"`` -> ``("bayes", True)``; an unknown rule is a :class:`ModelError`."""
    base, decay = (rule[:-len(DECAY)], True) if rule.endswith(DECAY) else (rule, False)
    if base not in RULES:
        raise ModelError(f"unknown learning rule {rule!r}; rules are {', '.join(RULES)}, each also with "
                         f"the decay option ({RULES[0]}{DECAY})")
    return base, decay


def check_rule(rule: str) -> str:
    split_rule(rule)
    return rule


def rate_names(rule: str) -> tuple[str, ...]:
    """The parameters of the rule itself (its update), without the decay rate."""
    return RATE_NAMES[split_rule(rule)[0]]


def parameter_names(kind: str, rule: str = "asymmetric", segments=()) -> tuple[str, ...]:
    """The parameters of ``rule`` with adoption ``kind``: its rates, then initial trust and
    the adoption noise, then the decay rate (``RULE+decay``). With ``segments`` (initial
    trust by segment) one mean of initial trust per segment, ``initial_trust_mean[SEGMENT]``."""
    base, decay = split_rule(rule)
    means = tuple(segment_name("initial_trust_mean", s) for s in segments) or ("initial_trust_mean",)
    return RATE_NAMES[base] + means + PARAMETER_NAMES[kind][3:] + (("decay",) if decay else ())


def expansion_matrix(rule: str, segments=(), segment: int = 0) -> np.ndarray:
    """``A`` with ``u_full = A w``: the rule's unconstrained vector ``w`` in the six
    coordinates the compiled passes take (two rule coordinates, mean, concentration, noise,
    decay), for the sellers of ``segments[segment]`` (its own mean of initial trust).
    ``symmetric`` puts its one rate in both rule coordinates; without the decay option the
    decay coordinate is unused."""
    base, decay = split_rule(rule)
    names = parameter_names("continuous", rule, segments)
    A = np.zeros((N_COORDINATES, len(names)))
    n_rates = len(RATE_NAMES[base])
    n_means = max(len(segments), 1)
    A[0, 0] = 1.0
    if n_rates == 2:
        A[1, 1] = 1.0
    elif base == "symmetric":
        A[1, 0] = 1.0
    A[2, n_rates + segment] = 1.0
    A[3, n_rates + n_means] = 1.0
    A[4, n_rates + n_means + 1] = 1.0
    if decay:
        A[5, -1] = 1.0
    return A


def rule_values(params: dict, rule: str) -> tuple[float, float]:
    """The rule's two values in natural units: the branch rates (symmetric: its rate twice),
    bayes' median prior strength and the sd of its log, or wsls' trust after a win and after
    a loss."""
    base, _ = split_rule(rule)
    names = RATE_NAMES[base]
    if len(names) == 2:
        return params[names[0]], params[names[1]]
    return (params[names[0]], params[names[0]] if base == "symmetric" else 0.0)


def to_natural(u, kind: str, rule: str = "asymmetric", segments=()) -> dict:
    """Unconstrained vector -> {name: value} (numpy)."""
    u = np.asarray(u, float)
    out = {}
    for name, v in zip(parameter_names(kind, rule, segments), u):
        out[name] = float(1 / (1 + np.exp(-v))) if _TRANSFORMS[name] == "logit" else float(np.exp(v))
    return out


def to_unconstrained(params: dict, kind: str, rule: str = "asymmetric", segments=()) -> np.ndarray:
    out = []
    for name in parameter_names(kind, rule, segments):
        v = float(params[name])
        out.append(np.log(v / (1 - v)) if _TRANSFORMS[name] == "logit" else np.log(v))
    return np.array(out)


def draw_parameters(params: dict, kind: str, rule: str, cov, n: int, stream, segments=()) -> list[dict]:
    """``n`` parameter dicts drawn from the fit's asymptotic normal distribution of the
    unconstrained vector, ``u ~ N(u_hat, cov)`` (so every draw is a valid parameter), by a
    generator seeded with ``stream`` (e.g. ``[seed, k]``). A covariance that is not a finite,
    positive semi-definite matrix of the vector's size (a flat or non-concave likelihood) is
    an :class:`~cheaptalk.errors.InputError`."""
    from ..errors import InputError
    u_hat = to_unconstrained(params, kind, rule, segments)
    cov = np.asarray(cov, float)
    if cov.shape != (len(u_hat), len(u_hat)) or not np.all(np.isfinite(cov)) or \
            np.linalg.eigvalsh((cov + cov.T) / 2).min() < -1e-12 * max(np.abs(cov).max(), 1e-300):
        raise InputError("the fit's covariance of the parameters is not a valid covariance matrix "
                         "(the fit reported a flat or non-concave likelihood): parameter draws "
                         "are not possible")
    rng = np.random.default_rng(stream)
    return [to_natural(u, kind, rule, segments)
            for u in rng.multivariate_normal(u_hat, cov, size=n, method="eigh")]


def natural_jacobian(u, kind: str, rule: str = "asymmetric", segments=()) -> np.ndarray:
    """Diagonal of d natural / d u (for delta-method standard errors)."""
    u = np.asarray(u, float)
    d = []
    for name, v in zip(parameter_names(kind, rule, segments), u):
        if _TRANSFORMS[name] == "logit":
            p = 1 / (1 + np.exp(-v))
            d.append(p * (1 - p))
        else:
            d.append(np.exp(v))
    return np.array(d)


def initial_trust_nodes(n: int = DEFAULT_NODES):
    """Gauss-Legendre nodes mapped to (0, 1) and their log weights."""
    nodes, log_w = _gauss_legendre(int(n))
    return nodes.copy(), log_w.copy()


@functools.lru_cache(maxsize=16)
def _gauss_legendre(n: int):
    # (computed once per count: at hundreds of nodes this costs more than a pass of small logs)
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, np.log(w / 2)


# nodes of the bayes rule's prior strength across sellers: Gauss-Hermite for a standard normal
STRENGTH_NODES = 3


def strength_nodes(n: int = STRENGTH_NODES):
    """Gauss-Hermite nodes ``z_k`` and log weights of a standard normal (the weights sum to 1)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, np.log(w / w.sum())


def node_grid(n_nodes: int, rule: str):
    """The nodes a seller's likelihood mixes over, ``q = k n_nodes + i``: initial trust
    ``x_i`` (Gauss-Legendre) and, under ``bayes``, the prior strength's standard-normal
    ``z_k`` (Gauss-Hermite), ``log n0 = log prior_strength + prior_strength_sd z_k``. Returns
    the initial trust of each node, the index of its trust node, its ``z`` (0 without
    ``bayes``) and the log weight of its ``z`` (0 without ``bayes``)."""
    x, _ = initial_trust_nodes(n_nodes)
    if split_rule(rule)[0] != "bayes":
        return x, np.arange(n_nodes), np.zeros(n_nodes), np.zeros(n_nodes)
    z, log_wz = strength_nodes()
    K = len(z)
    return np.tile(x, K), np.tile(np.arange(n_nodes), K), np.repeat(z, n_nodes), np.repeat(log_wz, n_nodes)
