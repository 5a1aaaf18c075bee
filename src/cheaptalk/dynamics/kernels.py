"""Compiled likelihood passes of the dynamic trust model: value, scores and exact Hessian.

The recursion of :mod:`cheaptalk.dynamics.model` is sequential in time within a seller and
independent across sellers and initial-trust nodes. These kernels run it in compiled loops
(numba): sellers in parallel over the cores, the nodes of one seller in the innermost loop
(vectorized), every quantity in float64. One pass gives, per seller, the log-likelihood, the
score and the Hessian, all exact. There is one kernel per adoption kind, with and without the
Hessian, compiled for the default node count: the per-node state is one block of known
shape, so the compiler can see that its rows never overlap and vectorizes the node loops
without run-time checks (other counts, as the quadrature check uses, share one kernel that
reads the count at run time).

Derivatives. Along node ``q``'s path the first and second derivatives of ``alpha_t`` with
respect to the rule's coordinates are carried forward with the path; for the asymmetric,
symmetric and confirmation rules these are the two rates, as below (the bayes and wsls
rules and the decay option: :func:`_update_paths` and :func:`_decay_paths`). With ``b`` the branch taken
(up if ``f_t >= alpha_t``), ``fb`` the feedback indicator and ``d = f_t - alpha_t``::

    alpha'   = alpha + fb eta_b d
    s_i'     = s_i (1 - fb eta_b) + fb d 1{b = i}
    s_ij'    = s_ij (1 - fb eta_b) - fb (s_i 1{b = j} + s_j 1{b = i})

(the branch indicator is locally constant, so it has no derivative almost everywhere). The
decision term ``lp(alpha_t, psi)`` (``psi = log sd_action`` or ``log follow_slope``) adds

    G_i  += lp_a s_i,   G_psi += lp_psi,
    H_ij += lp_aa s_i s_j + lp_a s_ij,   H_i,psi += lp_a,psi s_i,   H_psi,psi += lp_psi,psi

to node ``q``'s log-likelihood ``ll_q`` and its derivatives. A seller's log-likelihood is
``L = log sum_q exp(g_q)`` with ``g_q = log w_q + ll_q``; with the posterior ``p_q`` over
nodes, ``dL = sum_q p_q dg_q`` and
``d2L = sum_q p_q (d2g_q + dg_q dg_q') - dL dL'``. The rates enter through
``eta = sigmoid(u)`` (``d eta / du = eta (1 - eta)``, ``d2 eta / du2 = eta (1 - eta)(1 - 2 eta)``);
the node weights depend only on the initial-trust parameters and are differentiated in
closed form once per pass (:func:`node_weight_derivatives`).

Work per event. The update runs only for events with feedback (with ``fb = 0`` nothing
moves) and the decision term only for observed decisions. For continuous adoption,
``r = y - alpha g`` (``y`` the action and ``g`` the recommendation, both net of the own
estimate), ``z2 = r^2 / sd^2`` and::

    lp = -z2/2 - psi - log(2 pi)/2,   lp_a = r g / sd^2,    lp_psi = z2 - 1,
    lp_aa = -g^2 / sd^2,              lp_psi,psi = -2 z2,   lp_a,psi = -2 lp_a,

so the node loop only sums ``S = sum r^2``, ``G_i = sum r g s_i`` and
``H_ij = sum (r g s_ij - g^2 s_i s_j)``; after the seller's last event, with ``n`` its number
of observed decisions,
``ll = -S / (2 sd^2) - n (psi + log(2 pi)/2)``, ``g_i = G_i / sd^2``, ``g_psi = S / sd^2 - n``,
``h_ij = H_ij / sd^2``, ``h_i,psi = -2 g_i``, ``h_psi,psi = -2 S / sd^2``.
For binary adoption, ``z = k logit(alpha)`` and the costly terms (``log``, ``exp(-|z|)``,
``log1p``, ``sigmoid(+-|z|)``) depend on the node's trust only: they are cached per node and
recomputed after each update, so a decision without feedback costs no transcendental calls.

The reference implementation by automatic differentiation (:class:`TrustDynamics`) checks
these kernels in the tests.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from .parameters import LEANING_WIDTH, initial_trust_nodes, node_grid, split_rule

__all__ = ["node_weight_derivatives", "grid_weights", "batch_pass", "warm_up", "N_PARAMS"]

N_PARAMS = 6
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_EPS_TRUST = 1e-9          # as in the model: keeps logit(alpha) finite for the binary link
_TRIU = np.triu_indices(N_PARAMS)
# fastmath "contract" only: fused multiply-adds, no reordering of sums
_JIT = dict(error_model="numpy", cache=True, nogil=True, fastmath={"contract"})
# rows of the per-node block (one row per quantity, one column per node): the path and its
# derivatives in the rates; then the continuous kernel's sums over decisions or the binary
# kernel's cached link terms; then the node log-likelihood and its derivatives in
# (the two rule coordinates, psi) handed to _seller_totals
_ALPHA, _S_U, _S_D, _S_UU, _S_UD, _S_DD = range(6)
_SUM_RR, _SUM_U, _SUM_D, _SUM_UU, _SUM_UD, _SUM_DD = range(6, 12)
_Z, _Z_A, _Z_AA, _LOG1P_E, _P_POS, _P_NEG = range(6, 12)
_LL, _G_U, _G_D, _G_P, _H_UU, _H_UD, _H_DD, _H_UP, _H_DP, _H_PP = range(12, 22)
# the decay option: the path's derivatives in the decay coordinate x (and mixed), the
# continuous kernel's sums, the node log-likelihood's derivatives
_S_X, _S_UX, _S_DX, _S_XX = range(22, 26)
_SUM_X, _SUM_UX, _SUM_DX, _SUM_XX = range(26, 30)
_G_X, _H_UX, _H_DX, _H_XX, _H_XP = range(30, 35)
_N_ROWS = 35
# the update's form (compile-time constants of the kernels); symmetric is _BRANCH with
# equal rates
_BRANCH, _CONFIRMATION, _BAYES, _WSLS = range(4)
_RULE_CODES = {"asymmetric": _BRANCH, "symmetric": _BRANCH, "confirmation": _CONFIRMATION,
               "bayes": _BAYES, "wsls": _WSLS}


def node_weight_derivatives(u2: float, u3: float, n_nodes: int):
    """Node log-weights of the initial-trust Beta and their derivatives.

    ``log w_q = l_q - logsumexp(l)``, ``l_q = (a - 1) log x_q + (b - 1) log(1 - x_q) + log gl_q``
    with ``a = m c``, ``b = (1 - m) c``, ``m = sigmoid(u2)``, ``c = exp(u3)``. Returns
    ``log w`` (Q,), its gradient in (u2, u3) (Q, 2) and its second derivatives
    (Q, 3: u2u2, u2u3, u3u3).
    """
    x, log_gl = initial_trust_nodes(n_nodes)
    m = 1.0 / (1.0 + math.exp(-u2))
    c = math.exp(u3)
    lx, l1x = np.log(x), np.log1p(-x)
    ell = (m * c - 1) * lx + ((1 - m) * c - 1) * l1x + log_gl
    log_w = ell - np.logaddexp.reduce(ell)
    w = np.exp(log_w)
    A = c * m * (1 - m) * (lx - l1x)          # d l / d u2
    C = m * c * lx + (1 - m) * c * l1x          # d l / d u3
    d1 = np.stack([A, C], axis=1)
    d2 = np.stack([A * (1 - 2 * m), A, C], axis=1)
    mean1 = w @ d1
    cov1 = np.einsum("q,qi,qj->ij", w, d1, d1) - np.outer(mean1, mean1)
    mean2 = w @ d2
    d2_log_w = d2 - np.array([mean2[0] + cov1[0, 0], mean2[1] + cov1[0, 1], mean2[2] + cov1[1, 1]])
    return x, log_w, d1 - mean1, d2_log_w


@functools.lru_cache(maxsize=4)
def _node_weights(u2: float, u3: float, n_nodes: int):
    """:func:`node_weight_derivatives`, computed once per parameter vector rather than once
    per batch (the Gauss-Legendre nodes alone cost half a millisecond)."""
    return node_weight_derivatives(u2, u3, n_nodes)


@numba.njit(**_JIT)
def _seller_totals(b, log_w, d_log_w, d2_log_w, j_up, j_down, c_up, c_down, hessian, st, post,
                   out_ll, out_score, out_hess):
    """Mix seller ``b``'s node terms (rows _LL.._H_PP and _G_X.._H_XP of ``st``: derivatives in
    the two rule coordinates, psi and the decay coordinate) into its log-likelihood, score
    and Hessian in the unconstrained parameters (u0, u1, u2, u3, psi, x). ``j``, ``c``: first
    and second derivatives of the rule coordinates in u0, u1 (sigmoid for the branch rates; 1
    and 0 where the paths carry derivatives in u already, as they do for x)."""
    n_q = log_w.shape[0]
    # L = logsumexp_q (log w_q + ll_q), posterior p_q (one exp per node)
    top = -np.inf
    for q in range(n_q):
        top = max(top, log_w[q] + st[_LL, q])
    total = 0.0
    for q in range(n_q):
        post[q] = math.exp(log_w[q] + st[_LL, q] - top)
        total += post[q]
    out_ll[b] = top + math.log(total)
    # posterior means of dg (score) and of d2g + dg dg' (accumulated in registers)
    s0 = s1 = s2 = s3 = s4 = s5 = 0.0
    a00 = a01 = a02 = a03 = a04 = a05 = a11 = a12 = a13 = a14 = a15 = 0.0
    a22 = a23 = a24 = a25 = a33 = a34 = a35 = a44 = a45 = a55 = 0.0
    for q in range(n_q):
        p = post[q] / total
        x0 = st[_G_U, q] * j_up
        x1 = st[_G_D, q] * j_down
        x2 = d_log_w[q, 0]
        x3 = d_log_w[q, 1]
        x4 = st[_G_P, q]
        x5 = st[_G_X, q]
        s0 += p * x0
        s1 += p * x1
        s2 += p * x2
        s3 += p * x3
        s4 += p * x4
        s5 += p * x5
        if hessian:
            p0 = p * x0
            p1 = p * x1
            p2 = p * x2
            p3 = p * x3
            p4 = p * x4
            a00 += p0 * x0 + p * (st[_H_UU, q] * j_up * j_up + st[_G_U, q] * c_up)
            a01 += p0 * x1 + p * st[_H_UD, q] * j_up * j_down
            a02 += p0 * x2
            a03 += p0 * x3
            a04 += p0 * x4 + p * st[_H_UP, q] * j_up
            a05 += p0 * x5 + p * st[_H_UX, q] * j_up
            a11 += p1 * x1 + p * (st[_H_DD, q] * j_down * j_down + st[_G_D, q] * c_down)
            a12 += p1 * x2
            a13 += p1 * x3
            a14 += p1 * x4 + p * st[_H_DP, q] * j_down
            a15 += p1 * x5 + p * st[_H_DX, q] * j_down
            a22 += p2 * x2 + p * d2_log_w[q, 0]
            a23 += p2 * x3 + p * d2_log_w[q, 1]
            a24 += p2 * x4
            a25 += p2 * x5
            a33 += p3 * x3 + p * d2_log_w[q, 2]
            a34 += p3 * x4
            a35 += p3 * x5
            a44 += p4 * x4 + p * st[_H_PP, q]
            a45 += p4 * x5 + p * st[_H_XP, q]
            a55 += p * x5 * x5 + p * st[_H_XX, q]
    out_score[b, 0] = s0
    out_score[b, 1] = s1
    out_score[b, 2] = s2
    out_score[b, 3] = s3
    out_score[b, 4] = s4
    out_score[b, 5] = s5
    if hessian:
        # d2L = E_p[d2g + dg dg'] - dL dL', upper triangle row by row
        h = out_hess[b]
        h[0] = a00 - s0 * s0
        h[1] = a01 - s0 * s1
        h[2] = a02 - s0 * s2
        h[3] = a03 - s0 * s3
        h[4] = a04 - s0 * s4
        h[5] = a05 - s0 * s5
        h[6] = a11 - s1 * s1
        h[7] = a12 - s1 * s2
        h[8] = a13 - s1 * s3
        h[9] = a14 - s1 * s4
        h[10] = a15 - s1 * s5
        h[11] = a22 - s2 * s2
        h[12] = a23 - s2 * s3
        h[13] = a24 - s2 * s4
        h[14] = a25 - s2 * s5
        h[15] = a33 - s3 * s3
        h[16] = a34 - s3 * s4
        h[17] = a35 - s3 * s5
        h[18] = a44 - s4 * s4
        h[19] = a45 - s4 * s5
        h[20] = a55 - s5 * s5


@numba.njit(inline="always", **_JIT)
def _add_node_terms(acc, st):
    """Add a seller's node log-likelihoods and their derivatives (rows _LL.._H_PP and
    _G_X.._H_XP) to those of its group: sellers that share their initial trust (one
    subject's advisors) multiply their likelihoods given each node before the mixture."""
    for k in range(_LL, _H_PP + 1):
        for q in range(st.shape[1]):
            acc[k, q] += st[k, q]
    for k in range(_G_X, _H_XP + 1):
        for q in range(st.shape[1]):
            acc[k, q] += st[k, q]


@numba.njit(inline="always", **_JIT)
def _group_totals(b, grouped, group_end, log_w, d_log_w, d2_log_w, j0, j1, c0, c1, hessian, st, acc,
                  post, out_ll, out_score, out_hess):
    """Seller ``b``'s contribution: its own mixture over the nodes, or, ``grouped``, nothing
    until the last seller of its group, which carries the group's mixture (the other rows
    hold zeros, so sums over sellers are sums over groups)."""
    if not grouped:
        _seller_totals(b, log_w, d_log_w, d2_log_w, j0, j1, c0, c1, hessian, st, post,
                       out_ll, out_score, out_hess)
        return
    _add_node_terms(acc, st)
    if group_end[b]:
        _seller_totals(b, log_w, d_log_w, d2_log_w, j0, j1, c0, c1, hessian, acc, post,
                       out_ll, out_score, out_hess)
        for k in range(acc.shape[0]):
            for q in range(acc.shape[1]):
                acc[k, q] = 0.0
    else:
        out_ll[b] = 0.0
        for k in range(out_score.shape[1]):
            out_score[b, k] = 0.0
        if hessian:
            for k in range(out_hess.shape[1]):
                out_hess[b, k] = 0.0


@numba.njit(inline="always", **_JIT)
def _start_seller(st, nodes):
    """A new seller: every node's trust at its initial value, every other row (path
    derivatives, sums, the node log-likelihood and its derivatives) at zero."""
    for q in range(st.shape[1]):
        st[_ALPHA, q] = nodes[q]
    for k in range(_S_U, _N_ROWS):
        for q in range(st.shape[1]):
            st[k, q] = 0.0


@numba.njit(inline="always", **_JIT)
def _update_paths(st, f, r0, r1, hessian, rule, n_seen, decay, n0s, szs):
    """One step of every node's trust path and its derivatives in the rule's coordinates
    after feedback ``f`` (``fb = 1``). ``rule`` and ``decay`` are compile-time constants:

    * ``_BRANCH``: rates ``r0``, ``r1`` (module docstring, derivatives in the rates); the first
      applies when ``f >= alpha``.
    * ``_CONFIRMATION``: :func:`_update_confirmation`.
    * ``_BAYES``: ``alpha' = alpha + s (f - alpha)`` with ``s = 1 / (n0 + k + 1)``, node ``q``'s
      prior strength ``n0 = n0s[q] = exp(u0 + e^u1 z_q)`` and ``k = n_seen`` feedback events
      before. With ``g = ds / dlog n0 = -n0 s^2``, ``h = d2s / dlog n0^2 = g + 2 n0^2 s^3`` and
      ``sz = e^u1 z_q = dlog n0 / du1`` (derivatives in u0, u1 directly)::

          s_0'  = (1 - s) s_0 + g d,           s_1'  = (1 - s) s_1 + g sz d
          s_00' = (1 - s) s_00 - 2 g s_0 + h d
          s_01' = (1 - s) s_01 - g sz s_0 - g s_1 + h sz d
          s_11' = (1 - s) s_11 - 2 g sz s_1 + (h sz^2 + g sz) d
    * ``_WSLS``: ``alpha' = r0`` if ``f >= 1/2`` else ``r1``, whatever ``alpha`` was; the
      derivatives in ``u = logit r`` are the sigmoid's, ``r (1 - r)`` and
      ``r (1 - r)(1 - 2 r)``, and everything before is forgotten.

    With ``decay``, the path's derivative in the decay coordinate ``x`` goes through the
    update like trust itself: ``s_x' = (1 - s) s_x``, ``s_xx' = (1 - s) s_xx`` and
    ``s_ix' = (1 - s) s_ix - s_i,rate s_x`` with ``s_i,rate`` the rate's derivative in
    coordinate ``i`` (1 on the branch taken for the branch rules, ``g`` and ``g sz`` for
    bayes); wsls forgets it.

    Inlined into the kernels (numba IR), where it vectorizes."""
    if rule == _BAYES:
        # per node: n0 = n0s[q], sz = szs[q] = prior_strength_sd * z_q (d log n0 / d u1)
        for q in range(st.shape[1]):
            n0 = n0s[q]
            sz = szs[q]
            step = 1.0 / (n0 + n_seen + 1.0)
            g = -n0 * step * step                       # d step / d log n0
            h = g + 2.0 * n0 * n0 * step * step * step  # d2 step / d (log n0)^2
            keep = 1.0 - step
            a = st[_ALPHA, q]
            s0 = st[_S_U, q]
            s1 = st[_S_D, q]
            d = f - a
            if hessian:
                st[_S_UU, q] = st[_S_UU, q] * keep - 2.0 * g * s0 + h * d
                st[_S_UD, q] = st[_S_UD, q] * keep - g * sz * s0 - g * s1 + h * sz * d
                st[_S_DD, q] = st[_S_DD, q] * keep - 2.0 * g * sz * s1 + (h * sz * sz + g * sz) * d
            st[_S_U, q] = s0 * keep + g * d
            st[_S_D, q] = s1 * keep + g * sz * d
            st[_ALPHA, q] = a + step * d
            if decay:
                sx = st[_S_X, q]
                if hessian:
                    st[_S_UX, q] = st[_S_UX, q] * keep - g * sx
                    st[_S_DX, q] = st[_S_DX, q] * keep - g * sz * sx
                    st[_S_XX, q] = st[_S_XX, q] * keep
                st[_S_X, q] = sx * keep
        return
    if rule == _CONFIRMATION:
        _update_confirmation(st, f, r0, r1, hessian, decay)
        return
    if rule == _WSLS:
        win = f >= 0.5
        level = r0 if win else r1
        j = level * (1.0 - level)
        c = j * (1.0 - 2.0 * level)
        for q in range(st.shape[1]):
            st[_ALPHA, q] = level
            st[_S_U, q] = j if win else 0.0
            st[_S_D, q] = 0.0 if win else j
            if hessian:
                st[_S_UU, q] = c if win else 0.0
                st[_S_UD, q] = 0.0
                st[_S_DD, q] = 0.0 if win else c
            if decay:
                st[_S_X, q] = 0.0
                if hessian:
                    st[_S_UX, q] = 0.0
                    st[_S_DX, q] = 0.0
                    st[_S_XX, q] = 0.0
        return
    for q in range(st.shape[1]):
        a = st[_ALPHA, q]
        su = st[_S_U, q]
        sd = st[_S_D, q]
        d = f - a
        up = f >= a
        step = r0 if up else r1
        keep = 1.0 - step
        if hessian:
            st[_S_UU, q] = st[_S_UU, q] * keep - (2.0 * su if up else 0.0)
            st[_S_UD, q] = st[_S_UD, q] * keep - (sd if up else su)
            st[_S_DD, q] = st[_S_DD, q] * keep - (0.0 if up else 2.0 * sd)
        st[_S_U, q] = su * keep + (d if up else 0.0)
        st[_S_D, q] = sd * keep + (0.0 if up else d)
        st[_ALPHA, q] = a + step * d
        if decay:
            sx = st[_S_X, q]
            if hessian:
                st[_S_UX, q] = st[_S_UX, q] * keep - (sx if up else 0.0)
                st[_S_DX, q] = st[_S_DX, q] * keep - (0.0 if up else sx)
                st[_S_XX, q] = st[_S_XX, q] * keep
            st[_S_X, q] = sx * keep


_INV_WIDTH = 1.0 / LEANING_WIDTH


@numba.njit(inline="always", **_JIT)
def _update_confirmation(st, f, eta_c, eta_d, hessian, decay):
    """The confirmation rule's step: ``alpha' = alpha + r (f - alpha)`` with the rate
    ``r = w eta_c + (1 - w) eta_d`` and ``w = lambda(alpha)`` after good news (``f >= alpha``),
    ``1 - lambda(alpha)`` after bad, ``lambda = sigmoid((alpha - 1/2) / width)``. The rate now
    depends on trust, so with ``d = f - alpha``, ``r_a = (eta_c - eta_d) w'``,
    ``r_aa = (eta_c - eta_d) w''``, ``m = 1 - r + r_a d`` and ``k = r_aa d - 2 r_a``
    (``r_i = dr/d eta_i``: ``w``, ``1 - w``; ``r_ai``: ``w'``, ``-w'``)::

        s_i'  = m s_i + r_i d
        s_ij' = m s_ij + k s_i s_j + d (s_i r_aj + s_j r_ai) - s_i r_j - s_j r_i

    and for the decay coordinate ``x`` (which ``r`` does not contain)
    ``s_x' = m s_x``, ``s_ix' = m s_ix + k s_i s_x + d s_x r_ai - s_x r_i``, ``s_xx' = m s_xx + k s_x^2``."""
    diff = eta_c - eta_d
    for q in range(st.shape[1]):
        a = st[_ALPHA, q]
        su = st[_S_U, q]
        sd = st[_S_D, q]
        d = f - a
        lam = 1.0 / (1.0 + math.exp(-(a - 0.5) * _INV_WIDTH))
        lam1 = lam * (1.0 - lam) * _INV_WIDTH               # lambda'
        good = f >= a
        w = lam if good else 1.0 - lam
        w1 = lam1 if good else -lam1
        r = eta_d + diff * w
        r_a = diff * w1
        m = 1.0 - r + r_a * d
        if hessian:
            w2 = lam1 * (1.0 - 2.0 * lam) * _INV_WIDTH       # lambda''
            k = diff * (w2 if good else -w2) * d - 2.0 * r_a
            st[_S_UU, q] = st[_S_UU, q] * m + k * su * su + 2.0 * d * su * w1 - 2.0 * su * w
            st[_S_UD, q] = st[_S_UD, q] * m + k * su * sd + d * (sd - su) * w1 - su * (1.0 - w) - sd * w
            st[_S_DD, q] = st[_S_DD, q] * m + k * sd * sd - 2.0 * d * sd * w1 - 2.0 * sd * (1.0 - w)
            if decay:
                sx = st[_S_X, q]
                st[_S_UX, q] = st[_S_UX, q] * m + k * su * sx + d * sx * w1 - sx * w
                st[_S_DX, q] = st[_S_DX, q] * m + k * sd * sx - d * sx * w1 - sx * (1.0 - w)
                st[_S_XX, q] = st[_S_XX, q] * m + k * sx * sx
        if decay:
            st[_S_X, q] = st[_S_X, q] * m
        st[_S_U, q] = su * m + w * d
        st[_S_D, q] = sd * m + (1.0 - w) * d
        st[_ALPHA, q] = a + r * d


@numba.njit(inline="always", **_JIT)
def _decay_paths(st, nodes, delta, j, c, hessian):
    """One event without feedback under the decay option: every node's trust drifts back
    toward its initial value ``x_q``, ``alpha' = alpha + delta (x_q - alpha)``. With ``e = x_q -
    alpha`` and ``x = logit delta`` (``j``, ``c``: first and second derivatives of delta in x)::

        s_i'  = (1 - delta) s_i,          s_ij' = (1 - delta) s_ij        (i, j rule coordinates)
        s_x'  = (1 - delta) s_x + j e,    s_ix' = (1 - delta) s_ix - j s_i
        s_xx' = (1 - delta) s_xx - 2 j s_x + c e
    """
    keep = 1.0 - delta
    for q in range(st.shape[1]):
        a = st[_ALPHA, q]
        e = nodes[q] - a
        su = st[_S_U, q]
        sd = st[_S_D, q]
        sx = st[_S_X, q]
        if hessian:
            st[_S_UU, q] *= keep
            st[_S_UD, q] *= keep
            st[_S_DD, q] *= keep
            st[_S_UX, q] = st[_S_UX, q] * keep - j * su
            st[_S_DX, q] = st[_S_DX, q] * keep - j * sd
            st[_S_XX, q] = st[_S_XX, q] * keep - 2.0 * j * sx + c * e
        st[_S_U, q] = su * keep
        st[_S_D, q] = sd * keep
        st[_S_X, q] = sx * keep + j * e
        st[_ALPHA, q] = a + delta * e


def _make_continuous_kernel(hessian: bool, n_nodes: int, rule: int = _BRANCH, decay: bool = False,
                            grouped: bool = False):
    """Continuous adoption; ``hessian``, the node count, the rule's code, the decay option and
    the grouping of sellers (a shared initial trust) are compile-time constants."""
    Q = n_nodes if n_nodes is not None else -1      # -1: the count read from the nodes at run time

    @numba.njit(parallel=True, **_JIT)
    def kernel(gap, act, fidelity, feedback, observed, length,
               r0, r1, j0, j1, c0, c1, delta, j_x, c_x, psi, nodes, log_w, d_log_w, d2_log_w, n0s, szs,
               group_end, bounds, out_ll, out_score, out_hess):
        n_chunks = bounds.shape[0] - 1
        inv_var = math.exp(-2.0 * psi)
        for chunk in numba.prange(n_chunks):
            # one block of known shape (for the default node count): LLVM sees that its rows
            # cannot overlap and vectorizes the node loops without run-time checks
            n_q = Q if Q > 0 else nodes.shape[0]
            st = np.empty((_N_ROWS, n_q))
            acc = np.zeros((_N_ROWS, n_q))
            post = np.empty(n_q)
            for b in range(bounds[chunk], bounds[chunk + 1]):
                _start_seller(st, nodes)
                n_obs = 0
                n_seen = 0
                for t in range(length[b]):
                    # (no calls in the node loops: LLVM vectorizes them)
                    if observed[b, t]:
                        n_obs += 1
                        g = np.float64(gap[b, t])
                        y = np.float64(act[b, t])
                        gg = g * g
                        for q in range(n_q):
                            su = st[_S_U, q]
                            sd = st[_S_D, q]
                            r = y - st[_ALPHA, q] * g
                            rg = r * g
                            st[_SUM_RR, q] += r * r
                            st[_SUM_U, q] += rg * su
                            st[_SUM_D, q] += rg * sd
                            if hessian:
                                st[_SUM_UU, q] += rg * st[_S_UU, q] - gg * su * su
                                st[_SUM_UD, q] += rg * st[_S_UD, q] - gg * su * sd
                                st[_SUM_DD, q] += rg * st[_S_DD, q] - gg * sd * sd
                            if decay:
                                sx = st[_S_X, q]
                                st[_SUM_X, q] += rg * sx
                                if hessian:
                                    st[_SUM_UX, q] += rg * st[_S_UX, q] - gg * su * sx
                                    st[_SUM_DX, q] += rg * st[_S_DX, q] - gg * sd * sx
                                    st[_SUM_XX, q] += rg * st[_S_XX, q] - gg * sx * sx
                    if feedback[b, t]:
                        _update_paths(st, np.float64(fidelity[b, t]), r0, r1, hessian, rule, n_seen, decay, n0s, szs)
                        n_seen += 1
                    elif decay:
                        _decay_paths(st, nodes, delta, j_x, c_x, hessian)
                const = n_obs * (psi + _HALF_LOG_2PI)
                for q in range(n_q):
                    z2 = st[_SUM_RR, q] * inv_var
                    st[_LL, q] = -0.5 * z2 - const
                    st[_G_U, q] = st[_SUM_U, q] * inv_var
                    st[_G_D, q] = st[_SUM_D, q] * inv_var
                    st[_G_P, q] = z2 - n_obs
                    st[_H_UU, q] = st[_SUM_UU, q] * inv_var
                    st[_H_UD, q] = st[_SUM_UD, q] * inv_var
                    st[_H_DD, q] = st[_SUM_DD, q] * inv_var
                    st[_H_UP, q] = -2.0 * st[_G_U, q]
                    st[_H_DP, q] = -2.0 * st[_G_D, q]
                    st[_H_PP, q] = -2.0 * z2
                    if decay:
                        st[_G_X, q] = st[_SUM_X, q] * inv_var
                        st[_H_UX, q] = st[_SUM_UX, q] * inv_var
                        st[_H_DX, q] = st[_SUM_DX, q] * inv_var
                        st[_H_XX, q] = st[_SUM_XX, q] * inv_var
                        st[_H_XP, q] = -2.0 * st[_G_X, q]
                _group_totals(b, grouped, group_end, log_w, d_log_w, d2_log_w, j0, j1, c0, c1, hessian, st, acc,
                              post, out_ll, out_score, out_hess)

    return kernel


@numba.njit(**_JIT)
def _cache_link(st, scale):
    """Binary link terms that depend on the node's trust only: z = k logit(alpha) (alpha
    clamped to [eps, 1 - eps]), dz/dalpha, d2z/dalpha2, log1p(exp(-|z|)) and sigmoid(+-|z|).
    Recomputed only when trust moves, so decisions without feedback cost no logs or exps."""
    for q in range(st.shape[1]):
        a = st[_ALPHA, q]
        ac = min(max(a, _EPS_TRUST), 1.0 - _EPS_TRUST)
        inside = 1.0 if (a > _EPS_TRUST and a < 1.0 - _EPS_TRUST) else 0.0
        z = scale * math.log(ac / (1.0 - ac))
        e = math.exp(-abs(z))
        den = ac * (1.0 - ac)
        st[_Z, q] = z
        st[_Z_A, q] = inside * scale / den
        st[_Z_AA, q] = inside * scale * (2.0 * ac - 1.0) / (den * den)
        st[_LOG1P_E, q] = math.log1p(e)
        st[_P_POS, q] = 1.0 / (1.0 + e)          # sigmoid(|z|)
        st[_P_NEG, q] = e / (1.0 + e)            # sigmoid(-|z|)


def _make_binary_kernel(hessian: bool, n_nodes: int, rule: int = _BRANCH, decay: bool = False,
                        grouped: bool = False):
    """Binary adoption (follow / ignore); ``hessian``, the node count, the rule's code, the
    decay option and the grouping of sellers are compile-time constants."""
    Q = n_nodes if n_nodes is not None else -1      # -1: the count read from the nodes at run time

    @numba.njit(parallel=True, **_JIT)
    def kernel(gap, act, fidelity, feedback, observed, length,
               r0, r1, j0, j1, c0, c1, delta, j_x, c_x, psi, nodes, log_w, d_log_w, d2_log_w, n0s, szs,
               group_end, bounds, out_ll, out_score, out_hess):
        n_chunks = bounds.shape[0] - 1
        scale = math.exp(psi)
        for chunk in numba.prange(n_chunks):
            n_q = Q if Q > 0 else nodes.shape[0]
            st = np.empty((_N_ROWS, n_q))
            acc = np.zeros((_N_ROWS, n_q))
            post = np.empty(n_q)
            for b in range(bounds[chunk], bounds[chunk + 1]):
                _start_seller(st, nodes)
                _cache_link(st, scale)
                n_seen = 0
                for t in range(length[b]):
                    # the decision term, for observed decisions: logit P(follow) = k logit(alpha),
                    # zz = z signed by the decision, lp = log sigmoid(zz)
                    if observed[b, t]:
                        sign = 1.0 if np.float64(act[b, t]) > 0.5 else -1.0
                        for q in range(n_q):
                            z = st[_Z, q]
                            z_a = st[_Z_A, q]
                            su = st[_S_U, q]
                            sd = st[_S_D, q]
                            zz = sign * z
                            p = st[_P_POS, q] if zz >= 0.0 else st[_P_NEG, q]      # sigmoid(zz)
                            resid = sign * (1.0 - p)                               # d lp / dz
                            lp_a = resid * z_a
                            st[_LL, q] += min(zz, 0.0) - st[_LOG1P_E, q]
                            st[_G_U, q] += lp_a * su
                            st[_G_D, q] += lp_a * sd
                            st[_G_P, q] += resid * z
                            if hessian:
                                v = p * (1.0 - p)
                                lp_aa = -v * z_a * z_a + resid * st[_Z_AA, q]
                                lp_ap = -v * z * z_a + resid * z_a
                                st[_H_UU, q] += lp_aa * su * su + lp_a * st[_S_UU, q]
                                st[_H_UD, q] += lp_aa * su * sd + lp_a * st[_S_UD, q]
                                st[_H_DD, q] += lp_aa * sd * sd + lp_a * st[_S_DD, q]
                                st[_H_UP, q] += lp_ap * su
                                st[_H_DP, q] += lp_ap * sd
                                st[_H_PP, q] += -v * z * z + resid * z
                            if decay:
                                sx = st[_S_X, q]
                                st[_G_X, q] += lp_a * sx
                                if hessian:
                                    st[_H_UX, q] += lp_aa * su * sx + lp_a * st[_S_UX, q]
                                    st[_H_DX, q] += lp_aa * sd * sx + lp_a * st[_S_DX, q]
                                    st[_H_XX, q] += lp_aa * sx * sx + lp_a * st[_S_XX, q]
                                    st[_H_XP, q] += lp_ap * sx
                    # the update, only with feedback (and the drift back without, with decay)
                    if feedback[b, t]:
                        _update_paths(st, np.float64(fidelity[b, t]), r0, r1, hessian, rule, n_seen, decay, n0s, szs)
                        n_seen += 1
                        _cache_link(st, scale)
                    elif decay:
                        _decay_paths(st, nodes, delta, j_x, c_x, hessian)
                        _cache_link(st, scale)
                _group_totals(b, grouped, group_end, log_w, d_log_w, d2_log_w, j0, j1, c0, c1, hessian, st, acc,
                              post, out_ll, out_score, out_hess)

    return kernel


_KERNELS: dict = {}


# node counts compiled as constants (the default grid, and with bayes' prior-strength nodes):
# the others share one kernel that reads the count at run time, so that refining the
# quadrature (40, 80, ... nodes) compiles once rather than once per count
SPECIALIZED_NODES = (20, 20 * 3)


def _kernel(kind: str, hessian: bool, n_nodes: int, rule: int = _BRANCH, decay: bool = False,
            grouped: bool = False):
    """The kernel for one adoption kind, rule code, decay option and grouping, with or
    without the Hessian, for ``n_nodes`` nodes (compiled, or loaded from numba's cache, on
    first use)."""
    if n_nodes not in SPECIALIZED_NODES:
        n_nodes = None
    key = (kind, hessian, n_nodes, rule, decay, grouped)
    if key not in _KERNELS:
        make = _make_binary_kernel if kind == "binary" else _make_continuous_kernel
        _KERNELS[key] = make(hessian, n_nodes, rule, decay, grouped)
    return _KERNELS[key]


def _chunk_bounds(n_sellers: int, group_end=None) -> np.ndarray:
    """Where the parallel chunks of sellers start and end: up to 64 chunks of equal size, each
    moved to the end of a group when sellers are grouped (a group is never split)."""
    n_chunks = max(1, min(n_sellers, 64))
    bounds = np.array([c * n_sellers // n_chunks for c in range(n_chunks + 1)], np.int64)
    if group_end is not None and n_sellers:
        ends = np.flatnonzero(group_end[:n_sellers]) + 1          # sellers after each group
        inner = ends[np.minimum(np.searchsorted(ends, bounds[1:-1]), len(ends) - 1)]
        bounds = np.unique(np.r_[0, inner, n_sellers]).astype(np.int64)
    return bounds


def grid_weights(u, n_nodes: int, rule: str):
    """The nodes a seller's likelihood mixes over (:func:`~cheaptalk.dynamics.parameters.node_grid`)
    at the six coordinates ``u``: each node's initial trust, its log weight and the weight's
    derivatives in (u2, u3), and, under ``bayes``, its prior strength ``n0 = exp(u0 + e^u1 z)``
    and ``e^u1 z`` (zeros for the other rules)."""
    nodes, log_w, d_log_w, d2_log_w = _node_weights(float(u[2]), float(u[3]), n_nodes)
    if split_rule(rule)[0] != "bayes":
        zeros = np.zeros(len(nodes))
        return nodes, log_w, d_log_w, d2_log_w, zeros, zeros
    # the nodes of the prior strength times those of initial trust
    nodes, trust_index, z, log_wz = node_grid(n_nodes, rule)
    szs = math.exp(float(u[1])) * z
    return (nodes, log_w[trust_index] + log_wz, d_log_w[trust_index], d2_log_w[trust_index],
            np.exp(float(u[0]) + szs), szs)


def _rule_terms(rule: str, u0: float, u1: float):
    """The rule's two values in natural units and the first and second derivatives that
    :func:`_seller_totals` applies to the path derivatives: the rates' sigmoid for the branch
    rules; 1 and 0 for bayes and wsls, whose paths carry derivatives in u already."""
    sig0, sig1 = 1.0 / (1.0 + math.exp(-u0)), 1.0 / (1.0 + math.exp(-u1))
    if rule == "bayes":
        return u0, math.exp(u1), 1.0, 1.0, 0.0, 0.0
    if rule == "wsls":
        return sig0, sig1, 1.0, 1.0, 0.0, 0.0
    j0, j1 = sig0 * (1.0 - sig0), sig1 * (1.0 - sig1)
    return sig0, sig1, j0, j1, j0 * (1.0 - 2.0 * sig0), j1 * (1.0 - 2.0 * sig1)


def batch_pass(kind: str, u, batch: dict, hessian: bool = False, n_nodes: int = 20,
               rule: str = "asymmetric"):
    """One compiled pass over a packed batch (see :mod:`cheaptalk.dynamics.logs`) in the six
    coordinates ``u`` (the rule's two, initial-trust mean and concentration, noise, decay;
    the decay coordinate is read only for a ``RULE+decay`` rule).

    Returns per-seller log-likelihoods (nb,), per-seller scores (nb, 6) with respect to
    ``u`` and, with ``hessian=True``, the Hessian of the batch's summed log-likelihood (6, 6);
    otherwise ``None``. With ``batch["group_end"]`` (a shared initial trust: consecutive
    sellers up to one marked as a group's end share their initial-trust node), the group's
    log-likelihood and scores are in its last seller's row and the others' rows are 0.
    """
    u = np.asarray(u, float)
    base, decay = split_rule(rule)
    nb = int(batch["n_sellers"])
    n_nodes = int(n_nodes)
    terms = _rule_terms(base, float(u[0]), float(u[1]))
    nodes, log_w, d_log_w, d2_log_w, n0s, szs = grid_weights(u, n_nodes, rule)
    delta = 1.0 / (1.0 + math.exp(-u[5])) if decay else 0.0
    j_x = delta * (1.0 - delta)
    out_ll = np.empty(nb)
    out_score = np.empty((nb, N_PARAMS))
    out_hess = np.empty((nb if hessian else 0, len(_TRIU[0])))
    group_end = batch.get("group_end")
    grouped = group_end is not None
    if grouped:
        group_end = np.asarray(group_end, bool)
        if nb and not group_end[nb - 1]:
            raise ValueError("a batch of grouped sellers must end with the end of a group")
    else:
        group_end = np.ones(max(nb, 1), bool)
    bounds = _chunk_bounds(nb, group_end if grouped else None)
    kernel = _kernel(kind, bool(hessian), len(nodes), _RULE_CODES[base], decay, grouped)
    kernel(batch["gap"], batch["act"], batch["fidelity"], batch["feedback"], batch["observed"],
           batch["length"], *terms, delta, j_x, j_x * (1.0 - 2.0 * delta), float(u[4]), nodes, log_w,
           d_log_w, d2_log_w, n0s, szs, group_end, bounds, out_ll, out_score, out_hess)
    if not hessian:
        return out_ll, out_score, None
    H = np.zeros((N_PARAMS, N_PARAMS))
    H[_TRIU] = out_hess.sum(axis=0)
    return out_ll, out_score, H + np.triu(H, 1).T


def warm_up(kind: str) -> None:
    """Load (or compile) the kernel with the Hessian for ``kind`` on a tiny batch, so that
    an engine can do it while it is still reading the logs."""
    B, T = 2, 2
    batch = {"gap": np.zeros((B, T), np.float32), "act": np.zeros((B, T), np.float32),
             "fidelity": np.zeros((B, T), np.float32), "feedback": np.zeros((B, T), bool),
             "observed": np.ones((B, T), bool), "length": np.full(B, T, np.int32), "n_sellers": B}
    batch_pass(kind, np.zeros(N_PARAMS), batch, hessian=True)
