"""Standard theory on finite sender-receiver games (G2): equilibrium and agent logit QRE.

Equilibria
----------
A pure-strategy equilibrium of a cheap-talk game induces a *partition* of the states: the
states in element ``I_k`` send messages that lead the receiver to the action ``a_k``, a best
response to the prior restricted to ``I_k``, and every state weakly prefers its own
``a_k`` to every other ``a_j``. (Any equilibrium's off-path messages can be answered with
one of the on-path actions, so this describes every pure equilibrium outcome.) Babbling is
the one-element partition; the *most informative* equilibrium is the one with the most
elements (ties: the highest expected receiver payoff, then sender payoff).

The search (:func:`equilibrium_outcomes`, :func:`most_informative_equilibrium`):

* ``"partitions"`` - all set partitions of the states (exact; used when payoffs do not
  depend on the message and there are at most 8 states);
* ``"intervals"`` - for monotone / Crawford-Sobel-type games with many states: partitions
  into consecutive intervals with increasing actions, found by dynamic programming over
  (previous element, next start) with the adjacent-element incentive conditions
  (sufficient under single crossing); the result is then checked against all global
  incentive conditions and a warning is issued if it fails;
* :func:`pure_equilibria` enumerates pure strategy profiles of small games outright (the
  set pygambit's ``enumpure_agent_solve`` returns; the tests use it as the cross-check);
  games whose payoffs depend on the message use it.

How the equilibrium is played (the ``equilibrium`` model)
---------------------------------------------------------
The equilibrium is written in the *literal* language: a sender in element ``I_k`` sends
any message whose literal meaning lies in ``I_k`` (uniformly - she is indifferent among
them since they all induce ``a_k``), and the receiver believes ``mu(s | m) = pi(s | I_k)``
for ``l(m)`` in ``I_k``. Every message's meaning is a state, so every message is on the
path and no off-path belief is needed. (If some element contains no message's meaning,
it borrows a message from an element that has several; in games whose payoffs depend on
the message the enumerated profile itself is played, with prior beliefs at messages it
never sends.) Choices are logit responses:
the sender to the equilibrium receiver's pure strategy ``m -> a_k`` (so a state indifferent
between two elements' actions - a boundary state - splits evenly between their messages),
the receiver to the equilibrium beliefs.

Agent logit QRE
---------------
Each state's sender and each message's receiver is an agent; with normalized payoffs

    sigma = softmax(lambda_S U(rho)),   rho = softmax(lambda_R V(mu(sigma))),

``mu`` by Bayes' rule (always defined: logit strategies have full support). The principal
branch is traced from ``lambda = 0`` (uniform play) by pseudo-arclength continuation in
``(log probabilities, t)`` along ``t lambda``, ``t`` from 0 to 1, inside ``jax``; gradients for
estimation come from the implicit function theorem at the fixed point. This is what
pygambit's ``logit_solve_lambda`` computes on the same game with payoffs divided by their
range and ``lambda_S = lambda_R = lambda`` (use ``tie_precision=True``).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import numpy as np

from ..errors import ModelError, NoPureEquilibrium, TooManyProfiles
from .._jax import jax, jnp
from .base import Option
from .finite_common import (Behaviour, FiniteModel, normalized_payoffs, posterior_beliefs, precisions,
                            receiver_utility, sender_utility)

__all__ = ["EquilibriumOutcome", "pure_equilibria", "equilibrium_outcomes", "most_informative_equilibrium",
           "babbling_equilibrium", "interval_equilibrium", "qre_solver", "to_pygambit",
           "FiniteEquilibrium", "FiniteQRE"]

_TOL = 1e-9
_MAX_SET_PARTITION_STATES = 8


# --- equilibrium outcomes ---------------------------------------------------------------------

@dataclass
class EquilibriumOutcome:
    """A pure equilibrium outcome: partition of states and the action each element induces."""

    elements: list           # list of arrays of state indices
    actions: np.ndarray      # action index per element
    method: str = ""
    receiver_payoff: float = float("nan")
    sender_payoff: float = float("nan")
    profile: tuple | None = None      # (sender message per state, receiver action per message) if enumerated

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    def element_of_state(self, n_states: int) -> np.ndarray:
        out = np.empty(n_states, dtype=int)
        for k, el in enumerate(self.elements):
            out[el] = k
        return out

    def key(self):
        return tuple(sorted((tuple(int(s) for s in el), int(a)) for el, a in zip(self.elements, self.actions)))


def _message_independent(game) -> bool:
    return bool(np.allclose(game.sender_payoff, game.sender_payoff[:, :1, :])
                and np.allclose(game.receiver_payoff, game.receiver_payoff[:, :1, :]))


def _state_action_payoffs(game):
    """``(S, A)`` payoffs of games whose payoffs do not depend on the message."""
    if not _message_independent(game):
        raise ModelError(f"game {game.name!r}: the partition search needs payoffs that do not depend on "
                         f"the message; use pure_equilibria() on a small game instead")
    return game.sender_payoff[:, 0, :], game.receiver_payoff[:, 0, :]


def _welfare_of(game, elements, actions):
    uS, uR = game.sender_payoff[:, 0, :], game.receiver_payoff[:, 0, :]
    rs = ss = 0.0
    for el, a in zip(elements, actions):
        rs += float(game.prior[el] @ uR[el, a])
        ss += float(game.prior[el] @ uS[el, a])
    return rs, ss


def _set_partitions(n: int):
    """All set partitions of ``range(n)`` as restricted growth strings."""
    def rec(prefix, k):
        if len(prefix) == n:
            yield list(prefix)
            return
        for b in range(k + 1):
            yield from rec(prefix + [b], max(k, b + 1))
    yield from rec([0], 1)


def _receiver_best_actions(prior, uR, states, tol=_TOL):
    value = prior[states] @ uR[states]                 # (A,)
    span = float(np.ptp(uR)) or 1.0
    return np.flatnonzero(value >= value.max() - tol * span * prior[states].sum())


def _is_sender_ic(uS, elements, actions, tol=_TOL) -> bool:
    span = float(np.ptp(uS)) or 1.0
    acts = np.asarray(actions)
    for el, a in zip(elements, actions):
        own = uS[el, a]
        best = uS[np.ix_(el, acts)].max(axis=1)
        if np.any(own < best - tol * span):
            return False
    return True


def equilibrium_outcomes(game) -> list[EquilibriumOutcome]:
    """Every pure equilibrium outcome (partition + actions) of a game with at most
    8 states and message-independent payoffs, by enumerating set partitions."""
    uS, uR = _state_action_payoffs(game)
    S = game.n_states
    if S > _MAX_SET_PARTITION_STATES:
        raise ModelError(f"{S} states are too many to enumerate all partitions; use interval_equilibrium()")
    if game.n_messages < 1:
        raise ModelError("no messages")
    out = []
    for labels in _set_partitions(S):
        labels = np.asarray(labels)
        k = labels.max() + 1
        if k > game.n_messages:
            continue                       # not enough messages to tell the elements apart
        elements = [np.flatnonzero(labels == j) for j in range(k)]
        choices = [_receiver_best_actions(game.prior, uR, el) for el in elements]
        for actions in itertools.product(*choices):
            if len(set(actions)) < k:
                continue                   # two elements with one action: the same outcome as merged
            if _is_sender_ic(uS, elements, actions):
                rs, ss = _welfare_of(game, elements, actions)
                out.append(EquilibriumOutcome(elements, np.asarray(actions), "partitions", rs, ss))
    return out


def babbling_equilibrium(game) -> EquilibriumOutcome:
    """One element: the receiver's best response to the prior (first of any tied actions)."""
    uR = game.receiver_payoff[:, 0, :]      # at the first message if payoffs depend on it
    el = np.arange(game.n_states)
    a = int(_receiver_best_actions(game.prior, uR, el)[0])
    rs = float(game.prior @ uR[:, a])
    ss = float(game.prior @ game.sender_payoff[np.arange(game.n_states), 0, a])
    return EquilibriumOutcome([el], np.array([a]), "babbling", rs, ss)


def interval_equilibrium(game) -> EquilibriumOutcome:
    """The interval partition equilibrium with the most elements (monotone games).

    Elements are consecutive states with strictly increasing actions. Dynamic programming:
    ``g(p, t)`` = most further elements given that the previous element is ``[p, t-1]`` and the
    next starts at ``t``; an element ``[t, e]`` may follow ``[p, t-1]`` when state ``t-1``
    weakly prefers the previous action and state ``t`` the next one (adjacent incentive
    conditions, sufficient under single crossing; checked globally afterwards).
    """
    uS, uR = _state_action_payoffs(game)
    S, A = uR.shape
    span_s = float(np.ptp(uS)) or 1.0
    cum = np.vstack([np.zeros(A), np.cumsum(game.prior[:, None] * uR, axis=0)])
    # best action of every interval [i, j]: argmax of the prior-weighted payoff (first if tied)
    br = np.full((S, S), -1, dtype=int)
    for i in range(S):
        br[i, i:] = np.argmax(cum[i + 1:] - cum[i], axis=1)
    act = game.actions
    NEG = -10 ** 9
    g = np.full((S + 1, S + 1), NEG, dtype=np.int64)    # g[p, t], p < t
    nxt = np.full((S + 1, S + 1), -1, dtype=np.int64)
    g[:, S] = 0
    tol = _TOL * span_s
    for t in range(S - 1, 0, -1):
        ends = np.arange(t, S)
        a_next = br[t, t:]                              # action of [t, e] for each e
        for p in range(t):
            a_prev = br[p, t - 1]
            ok = ((act[a_next] > act[a_prev])
                  & (uS[t - 1, a_prev] >= uS[t - 1, a_next] - tol)
                  & (uS[t, a_next] >= uS[t, a_prev] - tol))
            cand = np.where(ok, 1 + g[t, ends + 1], NEG)
            j = int(np.argmax(cand))
            if cand[j] > NEG // 2:
                g[p, t], nxt[p, t] = cand[j], ends[j]
    first = np.array([1 + g[0, e + 1] if e + 1 <= S else NEG for e in range(S)])
    e0 = int(np.argmax(first))
    elements, p, t = [np.arange(0, e0 + 1)], 0, e0 + 1
    while t < S:
        e = int(nxt[p, t])
        elements.append(np.arange(t, e + 1))
        p, t = t, e + 1
    actions = np.array([br[el[0], el[-1]] for el in elements])
    method = "intervals"
    if not _is_sender_ic(uS, elements, actions):
        warnings.warn(f"game {game.name!r}: the interval equilibrium found from adjacent incentive conditions "
                      f"fails a global incentive condition (payoffs lack single crossing?)", stacklevel=2)
        method = "intervals (global incentive check failed)"
    rs, ss = _welfare_of(game, elements, actions)
    return EquilibriumOutcome(elements, actions, method, rs, ss)


def most_informative_equilibrium(game) -> EquilibriumOutcome:
    """Most elements; ties broken by receiver then sender expected payoff."""
    if game.n_states <= _MAX_SET_PARTITION_STATES and _message_independent(game):
        outcomes = equilibrium_outcomes(game)
        return max(outcomes, key=lambda o: (o.n_elements, o.receiver_payoff, o.sender_payoff))
    if _message_independent(game):
        return interval_equilibrium(game)
    eqs = pure_equilibria(game)
    if not eqs:
        raise NoPureEquilibrium(f"game {game.name!r} (treatment {game.treatment!r}) has no pure-strategy equilibrium")
    best = max(eqs, key=lambda e: (len(set(e[0].tolist())), e[2], e[3]))
    sender, receiver = best[0], best[1]
    used = sorted(set(sender.tolist()))
    elements = [np.flatnonzero(sender == m) for m in used]
    return EquilibriumOutcome(elements, receiver[used], "pure profiles", best[2], best[3],
                              profile=(sender, receiver))


def pure_equilibria(game, max_profiles: int = 2_000_000) -> list:
    """All pure-strategy Nash equilibria ``(sender[s] -> m, receiver[m] -> a, E u_R, E u_S)``
    of a small game (the set pygambit's ``enumpure_agent_solve`` returns; the tests check it).

    Conditions: the receiver best-responds at every message that is sent (by a state of
    positive prior); each state of positive prior sends a message whose induced action it
    likes at least as much as any other message's. The smaller side is enumerated: every
    sender strategy (``M^S``) with the receiver's best responses, or every receiver strategy
    (``A^M``) with the sender's best responses (each selection among a state's tied best
    messages is tried), so a game with a binary action and 11 messages takes 2,048 steps.
    """
    S, M, A = game.n_states, game.n_messages, game.n_actions
    n_sender, n_receiver = M ** S, A ** M
    if min(n_sender, n_receiver) > max_profiles:
        raise TooManyProfiles(f"{min(n_sender, n_receiver)} pure strategies are too many to enumerate "
                              f"(limit {max_profiles})")
    uS, uR, prior = game.sender_payoff, game.receiver_payoff, game.prior
    tol_s = _TOL * (float(np.ptp(uS)) or 1.0)
    tol_r = _TOL * (float(np.ptp(uR)) or 1.0)
    idx = np.arange(S)
    out = []

    def receiver_ok(sender, rec) -> bool:
        for m in np.unique(sender[prior > 0]):
            states = np.flatnonzero((sender == m) & (prior > 0))
            value = prior[states] @ uR[states, m, :]
            if value[rec[m]] < value.max() - tol_r:
                return False
        return True

    def record(sender, rec):
        out.append((sender.copy(), rec.copy(), float(prior @ uR[idx, sender, rec[sender]]),
                    float(prior @ uS[idx, sender, rec[sender]])))

    if n_receiver <= n_sender:
        for rec in itertools.product(range(A), repeat=M):
            rec = np.asarray(rec)
            pay = uS[idx[:, None], np.arange(M)[None, :], rec[None, :]]             # (S, M)
            best = [np.flatnonzero(pay[s] >= pay[s].max() - tol_s) if prior[s] > 0 else np.arange(1)
                    for s in range(S)]
            n_choices = int(np.prod([len(b) for b in best], dtype=float))
            if n_choices > max_profiles:
                raise TooManyProfiles(f"{n_choices} tied sender best responses are too many to enumerate")
            for sender in itertools.product(*best):
                sender = np.asarray(sender)
                if receiver_ok(sender, rec):
                    record(sender, rec)
        return out
    receivers = np.array(list(itertools.product(range(A), repeat=M)), dtype=int)     # (R, M)
    for sender in itertools.product(range(M), repeat=S):
        sender = np.asarray(sender)
        ok = np.ones(len(receivers), dtype=bool)
        for m in range(M):
            states = np.flatnonzero((sender == m) & (prior > 0))
            if states.size == 0:
                continue
            value = prior[states] @ uR[states, m, :]                             # (A,)
            ok &= value[receivers[:, m]] >= value.max() - tol_r
        for r in np.flatnonzero(ok):
            rec = receivers[r]
            pay = uS[idx[:, None], np.arange(M)[None, :], rec[None, :]]          # (S, M)
            own = pay[idx, sender]
            if np.all((own >= pay.max(axis=1) - tol_s) | (prior == 0)):
                record(sender, rec)
    return out


def _profile_play(game, outcome: EquilibriumOutcome):
    """Play of an enumerated pure profile (games whose payoffs depend on the message): the
    profile's messages and actions; beliefs by Bayes' rule on the path, the prior off it."""
    sender, receiver = outcome.profile
    sigma = np.eye(game.n_messages)[sender]
    beliefs = posterior_beliefs(game.prior, sigma, np.tile(game.prior, (game.n_messages, 1)))
    return sigma, np.asarray(receiver), beliefs


def _literal_play(game, outcome: EquilibriumOutcome):
    """Sender strategy ``(S, M)``, receiver pure action per message ``(M,)`` and beliefs ``(M, S)``
    of an equilibrium outcome written in the literal language (see the module docstring)."""
    if outcome.profile is not None:
        return _profile_play(game, outcome)
    S, M = game.n_states, game.n_messages
    element = outcome.element_of_state(S)
    msg_element = element[game.meanings]                        # element each message literally names
    sigma = np.zeros((S, M))
    receiver_action = np.empty(M, dtype=int)
    beliefs = np.tile(game.prior, (M, 1))
    fallback = []
    for k, el in enumerate(outcome.elements):
        msgs = np.flatnonzero(msg_element == k)
        if msgs.size == 0:
            fallback.append(k)
            continue
        sigma[np.ix_(el, msgs)] = 1.0 / msgs.size
    if fallback:
        # some element has no message naming one of its states: give each such element a
        # message of its own, taken from elements that have more than one
        spare = [m for k in range(outcome.n_elements) if k not in fallback
                 for m in np.flatnonzero(msg_element == k)[1:]]
        if len(spare) < len(fallback):
            raise ModelError(f"game {game.name!r}: too few messages to play this equilibrium")
        for k in fallback:
            m = spare.pop()
            msg_element[m] = k
        sigma[:] = 0.0
        for k, el in enumerate(outcome.elements):
            msgs = np.flatnonzero(msg_element == k)
            sigma[np.ix_(el, msgs)] = 1.0 / msgs.size
    for m in range(M):
        k = msg_element[m]
        el = outcome.elements[k]
        receiver_action[m] = outcome.actions[k]
        b = np.zeros(S)
        b[el] = game.prior[el] / game.prior[el].sum()
        beliefs[m] = b
    return sigma, receiver_action, beliefs


# precision (on unit-range payoffs) at which the principal QRE branch stands in for its limit,
# a Nash equilibrium: a choice that costs 3% of the payoff range is then e^-9 as likely (far
# higher precisions make the continuation crawl through near-singular stretches of the branch)
QRE_LIMIT_PRECISION = 300.0


def _qre_limit_play(game):
    """A mixed equilibrium where no pure one exists (or too many strategies to search): the
    limit of the principal logit QRE branch (McKelvey and Palfrey's selection), computed at
    precision :data:`QRE_LIMIT_PRECISION`. Returns ``(outcome, sigma, rho, beliefs)``."""
    with jax.ensure_compile_time_eval():        # a constant of the model, even when called while tracing
        log_sig, log_rho, residual = qre_solver(game, max_steps=2000)(np.full(2, QRE_LIMIT_PRECISION))
    if not float(residual) < 1e-8:
        raise ModelError(f"game {game.name!r} (treatment {game.treatment!r}): no pure equilibrium, and the QRE "
                         f"branch toward a mixed one did not converge (residual {float(residual):.1e})")
    sigma, rho = np.exp(np.asarray(log_sig, float)), np.exp(np.asarray(log_rho, float))
    sigma /= sigma.sum(1, keepdims=True)
    rho /= rho.sum(1, keepdims=True)
    beliefs = posterior_beliefs(game.prior, sigma, np.tile(game.prior, (game.n_messages, 1)))
    used = np.flatnonzero((game.prior @ sigma) > 1e-6)
    elements = [np.flatnonzero(sigma[:, m] > 1e-6) for m in used]
    uS, uR = game.sender_payoff, game.receiver_payoff
    joint = game.prior[:, None, None] * sigma[:, :, None] * rho[None]
    out = EquilibriumOutcome(elements, np.argmax(rho[used], axis=1), f"QRE limit (lambda={QRE_LIMIT_PRECISION:g})",
                             float((joint * uR).sum()), float((joint * uS).sum()))
    return out, sigma, rho, beliefs


# --- agent logit QRE ----------------------------------------------------------------------------

def _qre_phi(y, lam, uS, uR, prior):
    """The logit response map ``Phi`` on log probabilities ``y = (log sigma, log rho)``."""
    S, M, A = uS.shape
    log_sig = y[:S * M].reshape(S, M)
    log_rho = y[S * M:].reshape(M, A)
    U = sender_utility(uS, jnp.exp(log_rho), xp=jnp)
    joint = prior[:, None] * jnp.exp(log_sig)
    mu = (joint / joint.sum(axis=0, keepdims=True)).T
    V = receiver_utility(uR, mu, xp=jnp)
    return jnp.concatenate([jax.nn.log_softmax(lam[0] * U, axis=1).ravel(),
                            jax.nn.log_softmax(lam[1] * V, axis=1).ravel()])


def _qre_residual(y, lam, uS, uR, prior):
    return y - _qre_phi(y, lam, uS, uR, prior)


def _clipped(d):
    return d * jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.max(jnp.abs(d)), 1e-300))


@partial(jax.jit, static_argnames=("max_steps", "newton_iterations"))
def _qre_forward(lam, uS, uR, prior, max_steps: int, newton_iterations: int):
    """Pseudo-arclength continuation of the principal branch (see :func:`qre_solver`).
    Payoffs are arguments, so games of the same shape share one compilation."""
    S, M, A = uS.shape
    n = S * M + M * A

    def H(z):
        return _qre_residual(z[:n], z[n] * lam, uS, uR, prior)

    dH = jax.jacfwd(H)                                   # (n, n + 1)

    def tangent(z, previous):
        J = jnp.vstack([dH(z), previous[None, :]])
        v = jnp.linalg.solve(J, jnp.zeros(n + 1).at[n].set(1.0))
        return v / jnp.linalg.norm(v)

    def attempt(state):
        z, v, h, k, _ = state
        v = tangent(z, v)
        predicted = z + h * v

        def correct(_, w):
            G = jnp.concatenate([H(w), (v @ (w - predicted))[None]])
            J = jnp.vstack([dH(w), v[None, :]])
            return w - _clipped(jnp.linalg.solve(J, G))
        w = jax.lax.fori_loop(0, newton_iterations, correct, predicted)
        ok = ((jnp.max(jnp.abs(H(w))) < 1e-10)
              & (jnp.max(jnp.abs(jnp.exp(w[:n]) - jnp.exp(z[:n]))) < 0.2))
        crossed = ok & (w[n] >= 1.0)
        # first crossing of t = 1: interpolate between the two points on the branch
        frac = (1.0 - z[n]) / jnp.where(crossed, w[n] - z[n], 1.0)
        w = jnp.where(crossed, z + frac * (w - z), w)
        return (jnp.where(ok, w, z), v, jnp.where(ok, 1.5 * h, 0.5 * h), k + 1, crossed)

    def going(state):
        _, _, h, k, done = state
        return (~done) & (k < max_steps) & (h > 1e-12)

    z0 = jnp.concatenate([jnp.full(S * M, -np.log(M)), jnp.full(M * A, -np.log(A)), jnp.zeros(1)])
    v0 = jnp.zeros(n + 1).at[n].set(1.0)
    z, _, _, _, _ = jax.lax.while_loop(going, attempt, (z0, v0, 0.1, 0, False))
    jac = jax.jacfwd(_qre_residual, argnums=0)

    def polish(_, y):                                    # Newton at t = 1 exactly
        return y - _clipped(jnp.linalg.solve(jac(y, lam, uS, uR, prior), _qre_residual(y, lam, uS, uR, prior)))
    return jax.lax.fori_loop(0, newton_iterations, polish, z[:n])


def qre_solver(game, max_steps: int = 1000, newton_iterations: int = 8):
    """A differentiable function ``lam (2,) -> (log sigma (S, M), log rho (M, A), residual)``
    giving the principal-branch agent logit QRE at ``(lambda_S, lambda_R)`` on normalized payoffs.

    Forward: the branch ``H(y, t) = y - Phi(y, t lambda) = 0`` of log probabilities ``y`` is
    followed from ``t = 0`` (uniform play) by pseudo-arclength continuation, as Gambit does,
    so that folds (where the branch turns back in lambda) are passed: predictor along the
    tangent of the branch, then ``newton_iterations`` Newton corrector steps (clipped to 1 in
    the max-norm) on ``H = 0`` plus the arclength condition. A step is accepted if the
    residual falls below 1e-10 and no probability moved by more than 0.2 (so that the path
    is not left for another branch); the step length then grows by half, otherwise it is
    halved. At the first crossing of ``t = 1`` the crossing point is interpolated and
    polished by Newton at ``t = 1`` (the first point on the branch at ``lambda``, what
    pygambit's ``logit_solve_lambda`` returns). At most ``max_steps`` attempts.

    Backward: implicit function theorem, ``dy/dlam = (I - dPhi/dy)^-1 dPhi/dlam``.
    ``residual`` is the max-norm of ``y - Phi(y)`` at the requested ``lambda`` (large if the
    continuation stopped short).
    """
    # numpy constants (not jax arrays): the solver may be built while a caller is tracing
    uS, uR = normalized_payoffs(game)
    prior = np.asarray(game.prior, float)
    S, M, A = uS.shape
    n = S * M + M * A

    @jax.custom_jvp
    def solve(lam):
        return _qre_forward(lam, uS, uR, prior, max_steps=max_steps, newton_iterations=newton_iterations)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        (lam,), (lam_dot,) = primals, tangents
        y = solve(lam)
        jy = jax.jacfwd(_qre_phi, argnums=0)(y, lam, uS, uR, prior)
        _, phi_dot = jax.jvp(lambda l: _qre_phi(y, l, uS, uR, prior), (lam,), (lam_dot,))
        return y, jnp.linalg.solve(np.eye(n) - jy, phi_dot)

    def qre(lam):
        lam = jnp.asarray(lam, dtype=jnp.float64)
        y = solve(lam)
        res = jnp.max(jnp.abs(_qre_residual(jax.lax.stop_gradient(y), jax.lax.stop_gradient(lam), uS, uR, prior)))
        return y[:S * M].reshape(S, M), y[S * M:].reshape(M, A), res

    return qre


def to_pygambit(game, normalized: bool = True):
    """The game as a ``pygambit`` extensive-form game (chance picks the state, one sender
    information set per state, one receiver information set per message). Payoffs are
    divided by their range per role when ``normalized`` (the scale QRE precisions refer to).
    Requires pygambit (a test dependency)."""
    import pygambit as gbt

    uS, uR = normalized_payoffs(game) if normalized else (game.sender_payoff, game.receiver_payoff)
    S, M, A = game.n_states, game.n_messages, game.n_actions
    sl = [f"s{i}" for i in range(S)]
    ml = [f"m{i}" for i in range(M)]
    al = [f"a{i}" for i in range(A)]
    g = gbt.Game.new_tree(players=["sender", "receiver"], title=f"{game.name} ({game.treatment})")
    g.append_move(g.root, g.players.chance, sl)
    # gambit wants chance probabilities that sum to one exactly: pass them as fractions
    probs = [Fraction(float(p)).limit_denominator(10 ** 12) for p in game.prior[:-1]]
    probs.append(1 - sum(probs))
    g.set_chance_probs(g.root.infoset, [gbt.Rational(p.numerator, p.denominator) for p in probs])
    for s in sl:
        g.append_move(g.root.children[s], "sender", ml)
    for m in ml:
        g.append_move([g.root.children[s].children[m] for s in sl], "receiver", al)
    for i, s in enumerate(sl):
        for j, m in enumerate(ml):
            for k, a in enumerate(al):
                o = g.add_outcome(f"{s}{m}{a}", [float(uS[i, j, k]), float(uR[i, j, k])])
                g.set_outcome(g.root.children[s].children[m].children[a], o)
    return g


# --- the models ---------------------------------------------------------------------------------

class FiniteEquilibrium(FiniteModel):
    """Standard theory: play of the most informative pure equilibrium (or babbling) with
    logit noise. Option ``equilibrium="most-informative"`` (default) or ``"babbling"``.

    Sender: ``sigma(m | s) ∝ exp(lambda_S u_S(s, m, a*(m)) / range(u_S))`` against the
    equilibrium receiver's pure strategy ``a*(m)``. Receiver: ``rho(a | m) ∝ exp(lambda_R
    sum_s mu*(s | m) u_R(s, m, a) / range(u_R))`` at the equilibrium beliefs ``mu*``. Under
    babbling every message induces the same action, so senders choose messages uniformly.
    See the module docstring for the literal-language convention (no off-path messages).
    """

    name = "equilibrium"
    description = "most informative pure equilibrium (or babbling) with logit noise"

    def __init__(self, game, equilibrium: str = "most-informative", **options):
        if equilibrium not in ("most-informative", "babbling"):
            raise ModelError(f"equilibrium must be 'most-informative' or 'babbling', got {equilibrium!r}")
        super().__init__(game, equilibrium=equilibrium, **options)
        self._cache = {}

    @classmethod
    def option_specs(cls):
        return super().option_specs() + [
            Option("equilibrium", "most-informative", "choice", "which equilibrium is played",
                   allowed=("most-informative", "babbling"))]

    def outcome(self, treatment: str | None = None) -> EquilibriumOutcome:
        """The equilibrium outcome played in a treatment."""
        return self._play(treatment or self.treatment_names[0])[0]

    def _play(self, treatment: str):
        """``(outcome, sigma*, rho*, U, V)``: the equilibrium, its strategies, and the payoffs
        each role maximizes against it (sender against ``rho*``, receiver at ``mu*``)."""
        if treatment not in self._cache:
            game = self.game.game(treatment)
            uS, uR = normalized_payoffs(game)
            if self.options["equilibrium"] == "babbling":
                out = babbling_equilibrium(game)
                M = game.n_messages
                sigma = np.full((game.n_states, M), 1.0 / M)
                beliefs = np.tile(game.prior, (M, 1))
                # the best response to the prior at each message (the same action unless
                # payoffs depend on the message)
                receiver_action = np.argmax(receiver_utility(game.receiver_payoff, beliefs), axis=1)
                rho = np.eye(game.n_actions)[receiver_action]
            else:
                try:
                    out = most_informative_equilibrium(game)
                    sigma, receiver_action, beliefs = _literal_play(game, out)
                    rho = np.eye(game.n_actions)[receiver_action]
                except (NoPureEquilibrium, TooManyProfiles):
                    out, sigma, rho, beliefs = _qre_limit_play(game)
            U = sender_utility(uS, rho)
            V = receiver_utility(uR, beliefs)
            self._cache[treatment] = (out, sigma, rho, U, V)
        return self._cache[treatment]

    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        _, sigma, rho, U, V = self._play(treatment)
        zero = jnp.zeros(1)
        return Behaviour(self.choose(values, "sender", jnp.asarray(U)[None], noiseless=sigma[None]),
                         self.choose(values, "receiver", jnp.asarray(V)[None], noiseless=rho[None]), zero, zero)


class FiniteQRE(FiniteModel):
    """Agent logit quantal response equilibrium (principal branch), see the module docstring.

    Parameters ``precision_sender``, ``precision_receiver``; ``tie_precision=True`` uses one
    ``precision`` for both (pygambit's single lambda on normalized payoffs).
    """

    name = "qre"
    description = "agent logit quantal response equilibrium (principal branch)"
    # predict/simulate call behaviour eagerly: the solver is compiled once per game shape
    compile_behaviour = False

    # a QRE is a fixed point of logit responses: it has no tremble version (the equilibrium
    # family under `tremble` is the standard theory with trembles); no type follows a rule,
    # so under `mixed` it is the logit QRE
    error_models = ("logit", "mixed")

    def __init__(self, game, max_steps: int = 1000, newton_iterations: int = 8, **options):
        super().__init__(game, max_steps=max_steps, newton_iterations=newton_iterations, **options)
        self._compiled_solvers = {}   # treatment -> compiled QRE continuation (made on first use)

    @classmethod
    def option_specs(cls):
        return super().option_specs() + [
            Option("max_steps", 1000, "int", "continuation steps of the QRE branch at most", minimum=1,
                   maximum=100_000),
            Option("newton_iterations", 8, "int", "Newton corrector iterations per step", minimum=1,
                   maximum=100)]

    def solver(self, treatment: str):
        solvers = self.__dict__.setdefault("_compiled_solvers", {})    # (gone after unpickling)
        if treatment not in solvers:
            solvers[treatment] = qre_solver(self.game.game(treatment), self.options["max_steps"],
                                            self.options["newton_iterations"])
        return solvers[treatment]

    def solve(self, params: dict | None = None, treatment: str | None = None):
        """``(sigma (S, M), rho (M, A), residual)`` as numpy arrays; warns if not converged."""
        full = self.resolve(params)
        lam = precisions(full)
        log_sig, log_rho, res = self.solver(treatment or self.treatment_names[0])(jnp.array(lam))
        res = float(res)
        if not res < 1e-8:
            warnings.warn(f"QRE fixed point not converged at lambda={lam} (residual {res:.2e}): the "
                          f"continuation stopped short (raise max_steps?)",
                          stacklevel=2)
        return np.exp(np.asarray(log_sig)), np.exp(np.asarray(log_rho)), res

    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        lam = jnp.stack(precisions(values))
        log_sig, log_rho, _ = self.solver(treatment)(lam)
        zero = jnp.zeros(1)
        return Behaviour(log_sig[None], log_rho[None], zero, zero)

    def predict(self, params: dict | None = None):
        pred = super().predict(params)
        for tname in self.treatment_names:
            pred.summary[tname]["qre_residual"] = self.solve(params, tname)[2]
        return pred
