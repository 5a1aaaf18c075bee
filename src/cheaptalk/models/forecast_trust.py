"""M2 on forecast sharing: the trust-embedded model.

Receiver (supplier) with trust ``alpha``: his belief about the forecast given report ``m``
is ``alpha * (the report is true) + (1 - alpha) * prior``, so capacity solves::

    alpha G(K - m) + (1 - alpha) F_D(K) = rho                    (1)

``alpha = 1`` is the credulous ``K = m + z*``; ``alpha = 0`` babbling ``K = F_D^-1(rho)``;
in between ``dK/dm = alpha g / (alpha g + (1 - alpha) f_D)`` lies strictly inside (0, 1).

Sender (manufacturer) with trustworthiness ``beta`` maximizes::

    U(m) = E_alpha E_eps min(xi + eps, K_alpha(m)) - beta * scale * (|m - xi| / scale)^gamma

where the expectation over ``alpha`` is the receiver population's trust distribution (the
trust-embedded equilibrium: senders know how much receivers trust). With ``gamma = 1``
and a single trust level the optimal inflation solves ``P(eps > K(m) - xi) K'(m) = beta``;
``beta = 1`` is always truthful because the left side never exceeds 1. See
``docs/forecast-sharing.md`` for the derivation.

Computation: trust and trustworthiness take values on fixed nodes (0, Gauss-Legendre
nodes, 1), so ``K_alpha(m)`` and expected sales are tabulated once per treatment; the
likelihood only reweights them. The sender's optimal report is found on a grid of 241
reports plus the truthful one as a smoothed argmax (softmax weights with a small
temperature, so that it is differentiable in the trust weights), and interpolated in the
forecast. The smoothed argmax has a hand-written adjoint (:func:`optimal_report`): it is
most of the likelihood's work, and its exact gradient then costs about one more pass over
the softmax weights instead of the several that automatic differentiation of the softmax
takes. The tables of all treatments are stacked so that one computation serves them all.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from .._jax import jax, jnp
from .base import Parameter
from .forecast_common import ForecastModel, TypeChoices, capacity_for_belief, interp_rows, noise_parameters
from .heterogeneity import (DEFAULT_INTERIOR_NODES, TRUST_OPTIONS, zoib_log_weights_from, zoib_nodes,
                            zoib_parameters)

__all__ = ["ForecastTrust", "trust_capacity", "optimal_report"]

_REPORT_GRID = 241
_FORECAST_GRID = 51
_CAPACITY_GRID = 801
SMOOTHING = 0.01         # temperature of the smoothed argmax, in units of expected sales


def trust_capacity(game, m, alpha):
    """Capacity of a receiver with trust ``alpha`` after report ``m``: the solution of (1)."""
    return capacity_for_belief(game, m, alpha, game.demand.cdf)


@lru_cache(maxsize=32)
def _trust_tables(game, n_nodes: int) -> dict:
    """Parameter-free tables of one treatment: capacity by report and trust node, and the
    sender's expected sales for each forecast, candidate report and trust node."""
    nodes = zoib_nodes(n_nodes)
    m_lo, m_hi = game.message_range
    m_grid = np.linspace(m_lo, m_hi, _CAPACITY_GRID)
    k_grid = trust_capacity(game, m_grid[:, None], nodes[None, :])                  # (M, J)
    x_grid = np.linspace(*game.forecast_range, _FORECAST_GRID)
    reports = np.linspace(m_lo, m_hi, _REPORT_GRID)
    candidates = np.concatenate([np.broadcast_to(reports, (len(x_grid), len(reports))),
                                 np.clip(x_grid, m_lo, m_hi)[:, None]], axis=1)   # (X, C)
    k_cand = interp_rows(candidates.ravel(), m_grid, k_grid).reshape(candidates.shape + (len(nodes),))
    sales = game.expected_sales(x_grid[:, None, None], k_cand)                      # (X, C, J)
    scale = game.forecast_range[1] - game.forecast_range[0]
    return {"m_grid": m_grid, "capacity": k_grid, "x_grid": x_grid, "candidates": candidates,
            "sales": sales, "distance": np.abs(candidates - x_grid[:, None]) / scale, "scale": scale,
            "step": reports[1] - reports[0]}


@lru_cache(maxsize=32)
def _stacked_tables(games: tuple, n_nodes: int) -> dict:
    """The sender's tables of several treatments stacked along the forecast axis, with the
    trust node first in ``sales`` (``(J, T * X, C)``): reweighting by the trust distribution
    is then one contiguous matrix-vector product for all treatments."""
    tabs = [_trust_tables(g, n_nodes) for g in games]
    sales = np.concatenate([t["sales"] for t in tabs], axis=0)                       # (T*X, C, J)
    return {"sales_by_trust": np.ascontiguousarray(np.moveaxis(sales, -1, 0)),
            "distance": np.concatenate([t["distance"] for t in tabs], axis=0),
            "scale": np.repeat([t["scale"] for t in tabs], _FORECAST_GRID)[:, None],   # (T*X, 1)
            "candidates": np.concatenate([t["candidates"] for t in tabs], axis=0)}


class ForecastTrust(ForecastModel):
    name = "trust"
    description = ("trust-embedded model: receivers trust reports to a degree alpha, senders "
                   "dislike lying to a degree beta (both zero-one-inflated Beta across people)")

    @classmethod
    def option_specs(cls):
        return super().option_specs() + TRUST_OPTIONS

    def __init__(self, game, *, convex: bool = False, n_nodes: int = DEFAULT_INTERIOR_NODES, **options):
        super().__init__(game, convex=convex, n_nodes=n_nodes, **options)
        self.convex = bool(convex)
        self.n_nodes = int(n_nodes)
        self.nodes = zoib_nodes(self.n_nodes)

    def parameters(self):
        params = (zoib_parameters("trust", at_0=0.1, at_1=0.15, mean=0.55, concentration=4.0)
                  + zoib_parameters("trustworthiness", at_0=0.2, at_1=0.15, mean=0.3, concentration=4.0)
                  + noise_parameters(self.game.game()) + self.tremble_parameters())
        if self.convex:
            params.append(Parameter("lying_cost_exponent", 1.5, 1.0, 4.0,
                                    "gamma >= 1: convexity of the lying cost beta*scale*(|m-xi|/scale)^gamma"))
        return params

    def sender_type_attributes(self):
        return {"trustworthiness": self.nodes}

    def rule_types(self):
        # the masses at trustworthiness 1 (truthful) and trust 1 (credulous) are the last nodes
        last = np.arange(len(self.nodes)) == len(self.nodes) - 1
        return {"sender": last, "receiver": last.copy()}

    def receiver_type_attributes(self):
        return {"trust": self.nodes}

    # --- tables, once per treatment -------------------------------------------------------
    def tables(self, treatment: str) -> dict:
        return _trust_tables(self.game.treatments[treatment], self.n_nodes)

    def _precompute(self, prep):
        names = self.treatment_names
        if "receiver" in prep.arrays:
            arr = prep.arrays["receiver"]
            k = np.zeros((len(arr["message"]), len(self.nodes)))
            for code, t in enumerate(names):
                rows = arr["treatment"] == code
                if rows.any():
                    tab = self.tables(t)
                    k[rows] = interp_rows(arr["message"][rows], tab["m_grid"], tab["capacity"])
            prep.cache["trust_capacity"] = k
        if "sender" in prep.arrays:
            arr = prep.arrays["sender"]
            pos = np.zeros(len(arr["state"]))
            for code, t in enumerate(names):
                rows = arr["treatment"] == code
                if rows.any():
                    x = self.tables(t)["x_grid"]
                    pos[rows] = (np.clip(arr["state"][rows], x[0], x[-1]) - x[0]) / (x[1] - x[0])
            i = np.clip(np.floor(pos).astype(int), 0, _FORECAST_GRID - 2)
            prep.cache["sender_interp"] = (arr["treatment"], i, pos - i)

    # --- behaviour ------------------------------------------------------------------------
    def receiver_choices(self, values, prep):
        k = jnp.asarray(prep.cache["trust_capacity"])
        return TypeChoices(zoib_log_weights_from(values, "trust", self.n_nodes), k, k)

    def report_schedule(self, values, treatment: str):
        """Optimal report on the forecast grid for every trustworthiness node: (X, J_beta)."""
        return self.report_schedules(values, (treatment,))[0]

    def report_schedules(self, values, treatments=None):
        """:meth:`report_schedule` of several treatments (all by default): (T, X, J_beta)."""
        treatments = tuple(self.treatment_names if treatments is None else treatments)
        tab = _stacked_tables(tuple(self.game.treatments[t] for t in treatments), self.n_nodes)
        trust_w = jnp.exp(zoib_log_weights_from(values, "trust", self.n_nodes))
        expected_sales = jnp.tensordot(trust_w / trust_w.sum(), tab["sales_by_trust"], axes=1)   # (T*X, C)
        if "lying_cost_exponent" in values:
            cost = tab["scale"] * jnp.asarray(tab["distance"]) ** values["lying_cost_exponent"]
        else:       # linear lying cost: a constant table
            cost = tab["scale"] * tab["distance"]
        report = optimal_report(expected_sales, jnp.asarray(cost), jnp.asarray(self.nodes),
                                jnp.asarray(tab["candidates"]))
        return report.reshape(len(treatments), _FORECAST_GRID, len(self.nodes))

    def sender_choices(self, values, prep):
        t_code, i, frac = prep.cache["sender_interp"]
        schedules = self.report_schedules(values)                                       # (T, X, J)
        frac = jnp.asarray(frac)[:, None]
        report = schedules[t_code, i] * (1 - frac) + schedules[t_code, i + 1] * frac
        return TypeChoices(zoib_log_weights_from(values, "trustworthiness", self.n_nodes), report, report)


def optimal_report(expected_sales, cost, betas, candidates, temperature=SMOOTHING):
    """Report maximizing ``expected_sales - beta * cost`` for each forecast and ``beta``.

    ``expected_sales`` and ``cost`` are (X, C) over candidate reports (X, C). The maximizer
    is taken as a smoothed argmax: the average of the candidates weighted by
    ``softmax(U / temperature)``. As ``temperature -> 0`` this is the argmax; at the default
    (a hundredth of a unit of expected sales) it moves the report by a fraction of a grid
    step, and makes the predicted report, hence the likelihood, a smooth function of the
    trust distribution even where the argmax would jump from one grid point to the next.
    Where the sender is indifferent over an interval (``beta = 0`` once every receiver's
    capacity stops rising) it gives the middle of the interval. Returns (X, B).

    The gradient is hand-written. With ``U[x,b,c] = S[x,c] - beta_b cost[x,c]``,
    ``p = softmax(U / T)`` over ``c`` and ``m*[x,b] = sum_c p m_c``,

        d m* / d U[x,b,c] = p[x,b,c] (m_c - m*[x,b]) / T,

    so for an incoming gradient ``g[x,b]`` the gradients of ``S`` and ``cost`` are

        dS[x,c]    =   ( m_c q1[x,c] - q2[x,c] ) / T,
        dcost[x,c] = - ( m_c q3[x,c] - q4[x,c] ) / T,

    with ``q_k[x,c] = sum_b v_k[x,b] p[x,b,c]`` for the rows ``v = (g, g m*, g beta,
    g m* beta)``: one batched product over the stored weights ``p``.
    """
    return _optimal_report(expected_sales, cost, betas, candidates, float(temperature))


@partial(jax.jit, static_argnums=4)
def _optimal_report(expected_sales, cost, betas, candidates, temperature):
    return _smoothed_argmax(expected_sales, cost, betas, candidates, temperature)


def _softmax_report(expected_sales, cost, betas, candidates, temperature):
    """The smoothed argmax (X, B), the unnormalized softmax weights ``exp(U / T - max)``
    (X, B, C) and their sums (X, B)."""
    utility = (expected_sales[:, None, :] - betas[None, :, None] * cost[:, None, :]) / temperature
    weights = jnp.exp(utility - jnp.max(utility, axis=-1, keepdims=True))
    total = jnp.sum(weights, axis=-1)
    return jnp.einsum("xbc,xc->xb", weights, candidates) / total, weights, total


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def _smoothed_argmax(expected_sales, cost, betas, candidates, temperature):
    return _softmax_report(expected_sales, cost, betas, candidates, temperature)[0]


def _smoothed_argmax_fwd(expected_sales, cost, betas, candidates, temperature):
    report, weights, total = _softmax_report(expected_sales, cost, betas, candidates, temperature)
    # the unnormalized weights are kept for the adjoint (1 / total is folded into it there)
    return report, (weights, total, report, cost, betas, candidates)


def _smoothed_argmax_bwd(temperature, residuals, g):
    weights, total, report, cost, betas, candidates = residuals
    g = g / total                                                                     # p = weights / total
    b = betas[None, :]
    rows = jnp.stack([g, g * report, g * b, g * report * b], axis=1)                # (X, 4, B)
    q = jnp.einsum("xkb,xbc->xkc", rows, weights) / temperature                       # (X, 4, C)
    d_sales = candidates * q[:, 0] - q[:, 1]
    d_cost = -(candidates * q[:, 2] - q[:, 3])
    # betas and candidates are constants in the likelihood (the compiler then drops these
    # terms), but the adjoint is complete: dU/dbeta = -cost, dm*/dm_c = p
    d_betas = -jnp.sum((g[:, :, None] * (candidates[:, None, :] - report[:, :, None]) * weights)
                       * cost[:, None, :], axis=(0, 2)) / temperature
    d_candidates = q[:, 0] * temperature
    return d_sales, d_cost, d_betas, d_candidates


_smoothed_argmax.defvjp(_smoothed_argmax_fwd, _smoothed_argmax_bwd)
