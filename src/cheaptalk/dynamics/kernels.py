"""Compiled likelihood passes of the dynamic trust model: value, scores and exact Hessian.

The recursion of :mod:`cheaptalk.dynamics.model` is sequential in time within a seller and
independent across sellers and initial-trust nodes. These kernels run it in compiled loops
(numba): sellers in parallel over the cores, the nodes of one seller in the innermost loop
(vectorized), every quantity in float64 registers. One pass gives, per seller, the
log-likelihood, the score and the Hessian, all exact.

Derivatives. Along node ``q``'s path the first and second derivatives of ``alpha_t`` with
respect to the two rates are carried forward with the path. With ``b`` the branch taken
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

The reference implementation by automatic differentiation (:class:`TrustDynamics`) checks
these kernels in the tests.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .model import initial_trust_nodes

__all__ = ["node_weight_derivatives", "batch_pass", "warm_up", "N_PARAMS"]

N_PARAMS = 5
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_EPS_TRUST = 1e-9          # as in the model: keeps logit(alpha) finite for the binary link
_TRIU = np.triu_indices(N_PARAMS)


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


def _make_kernel(binary: bool, hessian: bool):
    """Compile one kernel variant; ``binary`` and ``hessian`` are compile-time constants."""

    @numba.njit(parallel=True, error_model="numpy", cache=True, nogil=True)
    def kernel(gap, act, fidelity, feedback, observed, length, n_sellers,
               eta_up, eta_down, psi, nodes, log_w, d_log_w, d2_log_w, out_ll, out_score, out_hess):
        Q = nodes.shape[0]
        n_chunks = max(1, min(n_sellers, 64))
        scale = math.exp(psi)
        inv_var = 1.0 / (scale * scale)
        j_up = eta_up * (1.0 - eta_up)
        j_down = eta_down * (1.0 - eta_down)
        for chunk in numba.prange(n_chunks):
            alpha = np.empty(Q)
            s_u = np.empty(Q)
            s_d = np.empty(Q)
            s_uu = np.empty(Q)
            s_ud = np.empty(Q)
            s_dd = np.empty(Q)
            ll = np.empty(Q)
            g_u = np.empty(Q)
            g_d = np.empty(Q)
            g_p = np.empty(Q)
            h_uu = np.empty(Q)
            h_ud = np.empty(Q)
            h_dd = np.empty(Q)
            h_up = np.empty(Q)
            h_dp = np.empty(Q)
            h_pp = np.empty(Q)
            dg = np.empty(N_PARAMS)
            acc = np.empty((N_PARAMS, N_PARAMS))
            for b in range(chunk * n_sellers // n_chunks, (chunk + 1) * n_sellers // n_chunks):
                for q in range(Q):
                    alpha[q] = nodes[q]
                    s_u[q] = 0.0
                    s_d[q] = 0.0
                    s_uu[q] = 0.0
                    s_ud[q] = 0.0
                    s_dd[q] = 0.0
                    ll[q] = 0.0
                    g_u[q] = 0.0
                    g_d[q] = 0.0
                    g_p[q] = 0.0
                    h_uu[q] = 0.0
                    h_ud[q] = 0.0
                    h_dd[q] = 0.0
                    h_up[q] = 0.0
                    h_dp[q] = 0.0
                    h_pp[q] = 0.0
                for t in range(length[b]):
                    obs = 1.0 if observed[b, t] else 0.0
                    fb = 1.0 if feedback[b, t] else 0.0
                    f = np.float64(fidelity[b, t])
                    g = np.float64(gap[b, t])
                    y = np.float64(act[b, t])
                    sign = 1.0 if y > 0.5 else -1.0
                    for q in range(Q):
                        a = alpha[q]
                        if binary:
                            # logit P(follow) = k logit(alpha); z signed by the decision
                            ac = min(max(a, _EPS_TRUST), 1.0 - _EPS_TRUST)
                            inside = 1.0 if (a > _EPS_TRUST and a < 1.0 - _EPS_TRUST) else 0.0
                            z = scale * math.log(ac / (1.0 - ac))
                            zz = sign * z
                            e = math.exp(-abs(zz))
                            p = 1.0 / (1.0 + e) if zz >= 0.0 else e / (1.0 + e)   # sigmoid(zz)
                            lp = min(zz, 0.0) - math.log1p(e)
                            resid = sign * (1.0 - p)                               # d lp / dz
                            den = ac * (1.0 - ac)
                            z_a = inside * scale / den
                            lp_a = resid * z_a
                            lp_p = resid * z
                            lp_aa = lp_pp = lp_ap = 0.0
                            if hessian:
                                v = p * (1.0 - p)
                                z_aa = inside * scale * (2.0 * ac - 1.0) / (den * den)
                                lp_aa = -v * z_a * z_a + resid * z_aa
                                lp_pp = -v * z * z + resid * z
                                lp_ap = -v * z * z_a + resid * z_a
                        else:
                            r = y - a * g
                            z2 = r * r * inv_var
                            lp = -0.5 * z2 - psi - _HALF_LOG_2PI
                            lp_a = r * g * inv_var
                            lp_p = z2 - 1.0
                            lp_aa = lp_pp = lp_ap = 0.0
                            if hessian:
                                lp_aa = -g * g * inv_var
                                lp_pp = -2.0 * z2
                                lp_ap = -2.0 * lp_a
                        # (indexing the arrays directly, not through locals, lets LLVM vectorize)
                        ll[q] += obs * lp
                        g_u[q] += obs * lp_a * s_u[q]
                        g_d[q] += obs * lp_a * s_d[q]
                        g_p[q] += obs * lp_p
                        if hessian:
                            h_uu[q] += obs * (lp_aa * s_u[q] * s_u[q] + lp_a * s_uu[q])
                            h_ud[q] += obs * (lp_aa * s_u[q] * s_d[q] + lp_a * s_ud[q])
                            h_dd[q] += obs * (lp_aa * s_d[q] * s_d[q] + lp_a * s_dd[q])
                            h_up[q] += obs * lp_ap * s_u[q]
                            h_dp[q] += obs * lp_ap * s_d[q]
                            h_pp[q] += obs * lp_pp
                        up = 1.0 if f >= a else 0.0
                        down = 1.0 - up
                        eta = up * eta_up + down * eta_down
                        d = f - a
                        keep = 1.0 - fb * eta
                        if hessian:
                            s_uu[q] = s_uu[q] * keep - 2.0 * fb * s_u[q] * up
                            s_ud[q] = s_ud[q] * keep - fb * (s_u[q] * down + s_d[q] * up)
                            s_dd[q] = s_dd[q] * keep - 2.0 * fb * s_d[q] * down
                        s_u[q] = s_u[q] * keep + fb * d * up
                        s_d[q] = s_d[q] * keep + fb * d * down
                        alpha[q] = a + fb * eta * d
                # seller level: L = logsumexp_q (log w_q + ll_q), posterior p_q
                top = -np.inf
                for q in range(Q):
                    top = max(top, log_w[q] + ll[q])
                total = 0.0
                for q in range(Q):
                    total += math.exp(log_w[q] + ll[q] - top)
                L = top + math.log(total)
                out_ll[b] = L
                for i in range(N_PARAMS):
                    out_score[b, i] = 0.0
                    for j in range(N_PARAMS):
                        acc[i, j] = 0.0
                for q in range(Q):
                    p = math.exp(log_w[q] + ll[q] - L)
                    dg[0] = g_u[q] * j_up
                    dg[1] = g_d[q] * j_down
                    dg[2] = d_log_w[q, 0]
                    dg[3] = d_log_w[q, 1]
                    dg[4] = g_p[q]
                    for i in range(N_PARAMS):
                        out_score[b, i] += p * dg[i]
                    if hessian:
                        for i in range(N_PARAMS):
                            for j in range(i, N_PARAMS):
                                acc[i, j] += p * dg[i] * dg[j]
                        acc[0, 0] += p * (h_uu[q] * j_up * j_up + g_u[q] * j_up * (1.0 - 2.0 * eta_up))
                        acc[0, 1] += p * h_ud[q] * j_up * j_down
                        acc[1, 1] += p * (h_dd[q] * j_down * j_down + g_d[q] * j_down * (1.0 - 2.0 * eta_down))
                        acc[0, 4] += p * h_up[q] * j_up
                        acc[1, 4] += p * h_dp[q] * j_down
                        acc[4, 4] += p * h_pp[q]
                        acc[2, 2] += p * d2_log_w[q, 0]
                        acc[2, 3] += p * d2_log_w[q, 1]
                        acc[3, 3] += p * d2_log_w[q, 2]
                if hessian:
                    k = 0
                    for i in range(N_PARAMS):
                        for j in range(i, N_PARAMS):
                            out_hess[b, k] = acc[i, j] - out_score[b, i] * out_score[b, j]
                            k += 1

    return kernel


_KERNELS: dict = {}


def _kernel(kind: str, hessian: bool):
    key = (kind, hessian)
    if key not in _KERNELS:
        _KERNELS[key] = _make_kernel(kind == "binary", hessian)
    return _KERNELS[key]


def batch_pass(kind: str, u, batch: dict, hessian: bool = False, n_nodes: int = 20):
    """One compiled pass over a packed batch (see :mod:`cheaptalk.dynamics.logs`).

    Returns per-seller log-likelihoods (nb,), per-seller scores (nb, 5) with respect to the
    unconstrained vector ``u`` and, with ``hessian=True``, the Hessian of the batch's summed
    log-likelihood (5, 5); otherwise ``None``.
    """
    u = np.asarray(u, float)
    nb = int(batch["n_sellers"])
    nodes, log_w, d_log_w, d2_log_w = node_weight_derivatives(float(u[2]), float(u[3]), n_nodes)
    eta_up, eta_down = 1.0 / (1.0 + math.exp(-u[0])), 1.0 / (1.0 + math.exp(-u[1]))
    out_ll = np.empty(nb)
    out_score = np.empty((nb, N_PARAMS))
    out_hess = np.empty((nb if hessian else 0, len(_TRIU[0])))
    _kernel(kind, hessian)(batch["gap"], batch["act"], batch["fidelity"], batch["feedback"],
                           batch["observed"], batch["length"], nb, eta_up, eta_down, float(u[4]),
                           nodes, log_w, d_log_w, d2_log_w, out_ll, out_score, out_hess)
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
