"""The toolkit's level-k and trust likelihoods under `mixed` errors against a reference written
separately in plain numpy/scipy, on the real lying-game data (skipped when the data are absent).

The reference shares no code with the models: payoffs are written out from the game's rules,
the level-k chain, the trust types and the panel likelihood are computed here from scratch.
It covers the sender side (where the data tell the theories apart): truthful senders (level 0,
or trustworthiness 1) tremble with probability e to a uniform message; every other sender
type chooses by the logit of her payoffs divided by their range.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "bullshitter" / "bsfinal_anon.csv"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="the real data set is not in ../shared/data")

STATES = np.arange(11.0)


def payoffs(expt: str):
    """(u_S, u_R) of shape (s, m, a): a = 0 accept, 1 call; a called lie costs the sender 5."""
    s, m = STATES[:, None], STATES[None, :]
    paid = m if expt == "expt4" else 10 - m
    other = 10 - m if expt == "expt4" else m
    true = s == m
    u_s = np.stack([paid + 0 * s, np.where(true, paid, -5.0)], axis=-1)
    u_r = np.stack([other + 0 * s, np.where(true, other - 5.0, 5.0)], axis=-1)
    return u_s, u_r


def read():
    """Sender decisions (subject, treatment, state, message) and each treatment's prior."""
    senders, counts = [], {}
    with DATA.open() as f:
        for row in csv.DictReader(f):
            t = f"{row['expt']}-{row['probabilityRed']}"
            counts.setdefault(t, np.zeros(11))[int(row["drawnRed"])] += 1
            if row["roleCurrent"] == "bullshitter":
                senders.append((row["subjID"], t, int(row["drawnRed"]), int(row["reportedDrawn"])))
    return senders, {t: c / c.sum() for t, c in counts.items()}


def argmax_uniform(x):
    best = x >= x.max(axis=-1, keepdims=True) - 1e-9
    return best / best.sum(axis=-1, keepdims=True)


def levelk_sender_utilities(expt, prior):
    """Unit-range payoffs of the level-1 and level-3 senders (level 2 equals level 1)."""
    u_s, u_r = payoffs(expt)
    span_s = u_s.max() - u_s.min()
    idx = np.arange(11)
    rho0 = argmax_uniform(u_r[idx, idx, :])                  # credulous: belief s = m
    U1 = np.einsum("ma,sma->sm", rho0, u_s) / span_s
    sig1 = argmax_uniform(U1)
    joint = prior[:, None] * sig1                            # Bayes on level 1, literal off path
    post = np.where(joint.sum(0) > 0, joint / np.maximum(joint.sum(0), 1e-300), np.eye(11))
    V2 = np.einsum("sm,sma->ma", post, u_r)
    rho2 = argmax_uniform(V2)
    U3 = np.einsum("ma,sma->sm", rho2, u_s) / span_s
    return U1, U3


def panel_loglik(log_f_by_type, log_w, subjects):
    """sum_i log sum_t w_t prod_{d in i} f(d | t)."""
    codes, n = np.unique(subjects, return_inverse=True)[1], len(set(subjects))
    per_subject = np.zeros((n, log_f_by_type.shape[1]))
    np.add.at(per_subject, codes, log_f_by_type)
    return float(logsumexp(log_w[None, :] + per_subject, axis=1).sum())


def gather(tables_by_treatment, senders):
    """``log_f[d, t]``: each decision's entry of its treatment's ``(s, m)`` table of type ``t``."""
    treatment = np.array([x[1] for x in senders])
    s = np.array([x[2] for x in senders])
    m = np.array([x[3] for x in senders])
    out = np.empty((len(senders), len(next(iter(tables_by_treatment.values())))))
    for t, tables in tables_by_treatment.items():
        rows = treatment == t
        out[rows] = np.stack([tab[s[rows], m[rows]] for tab in tables], axis=1)
    return out


def log_softmax(z):
    return z - logsumexp(z, axis=-1, keepdims=True)


def truthful_tremble(e):
    return np.log((1 - e) * np.eye(11) + e / 11)


def reference_levelk_sender(q1, q3, lam, e, senders, priors):
    tables = {}
    for t in priors:
        U1, U3 = levelk_sender_utilities(t.split("-")[0], priors[t])
        tables[t] = [truthful_tremble(e), log_softmax(lam * U1), log_softmax(lam * U3)]
    log_f = gather(tables, senders)
    w = np.array([1 - q1, q1 * (1 - q3), q1 * q3])
    return panel_loglik(log_f, np.log(np.maximum(w, 1e-300)), [x[0] for x in senders])


def zoib_weights(at0, at1, mean, conc, n=12):
    x, q = np.polynomial.legendre.leggauss(n)
    x, q = (x + 1) / 2, q / 2
    a, b = mean * conc, (1 - mean) * conc
    beta = np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x)) * q
    return np.concatenate([[0.0], x, [1.0]]), np.concatenate([[at0], (1 - at0) * (1 - at1) * beta / beta.sum(),
                                                             [(1 - at0) * at1]])


def reference_trust_sender(p, senders, priors):
    nodes, w_trust = zoib_weights(p["trust_at_0"], p["trust_at_1"], p["trust_mean"], p["trust_concentration"])
    _, w_worthy = zoib_weights(p["trustworthiness_at_0"], p["trustworthiness_at_1"], p["trustworthiness_mean"],
                               p["trustworthiness_concentration"])
    tables = {}
    for t, prior in priors.items():
        u_s, u_r = payoffs(t.split("-")[0])
        span_s, span_r = u_s.max() - u_s.min(), u_r.max() - u_r.min()
        idx = np.arange(11)
        literal = u_r[idx, idx, :] / span_r                               # (m, a) if the message is true
        ignore = np.einsum("s,sma->ma", prior, u_r) / span_r              # (m, a) at the prior
        rho_bar = 0.0
        for alpha, w in zip(nodes, w_trust):
            v = alpha * literal + (1 - alpha) * ignore
            if alpha == 1.0:                                               # credulous receiver: tremble
                rho = (1 - p["tremble_receiver"]) * argmax_uniform(v) + p["tremble_receiver"] / 2
            else:
                rho = np.exp(log_softmax(p["precision_receiver"] * v))
            rho_bar = rho_bar + w * rho
        gain = np.einsum("ma,sma->sm", rho_bar, u_s) / span_s
        lie = np.abs(STATES[None, :] - STATES[:, None]) / 10.0
        tables[t] = [truthful_tremble(p["tremble_sender"]) if beta == 1.0
                     else log_softmax(p["precision_sender"] * (gain - beta * lie)) for beta in nodes]
    log_f = gather(tables, senders)
    return panel_loglik(log_f, np.log(np.maximum(w_worthy, 1e-300)), [x[0] for x in senders])


@pytest.fixture(scope="module")
def real():
    from cheaptalk.data import clean_decisions
    from cheaptalk.datasets.public import get_dataset
    from cheaptalk.data.importing import import_table, load_map, read_source
    from cheaptalk.games import load_game

    ds = get_dataset("bullshitter")
    frame, _ = import_table(read_source(DATA), load_map(ds.map_path), source=str(DATA))
    game = load_game(ds.game_path)
    data, _ = clean_decisions(frame, game, source=str(DATA))
    senders, priors = read()
    return game, data, senders, priors


def test_levelk_mixed_sender_likelihood_equals_the_reference_and_reaches_its_maximum(real):
    from cheaptalk.estimation import Likelihood, fit
    from cheaptalk.models import get_model

    game, data, senders, priors = real
    model = get_model("levelk", game, errors="mixed")
    lik = Likelihood(model, data)
    params = {"sender_level1_share": 0.4, "sender_level3_share": 0.3, "precision_sender": 3.0,
              "tremble_sender": 0.3}
    theta = model.to_vector(params)
    ours = lik.role_loglik(theta)["sender"]
    ref = reference_levelk_sender(0.4, 0.3, 3.0, 0.3, senders, priors)
    assert ours == pytest.approx(ref, abs=1e-6)

    # the reference's maximum, by scipy on its own
    def negative(x):
        return -reference_levelk_sender(*x, senders, priors)
    best = minimize(negative, [0.3, 0.5, 2.0, 0.3], method="L-BFGS-B",
                    bounds=[(1e-6, 1 - 1e-6), (1e-6, 1 - 1e-6), (0.0, 50.0), (1e-6, 1.0)])
    result = fit(model, likelihood=lik, starts=3, seed=0, warn=False)
    # levels of senders and receivers have separate parameters, so the joint fit maximizes
    # the sender side too
    assert result.likelihood.role_loglik(result.theta)["sender"] >= -best.fun - 0.01


def test_trust_mixed_sender_likelihood_equals_the_reference(real):
    from cheaptalk.estimation import Likelihood
    from cheaptalk.models import get_model

    game, data, senders, priors = real
    model = get_model("trust", game, errors="mixed")
    params = {"trust_at_0": 0.3, "trust_at_1": 0.2, "trust_mean": 0.5, "trust_concentration": 6.0,
              "trustworthiness_at_0": 0.1, "trustworthiness_at_1": 0.3, "trustworthiness_mean": 0.6,
              "trustworthiness_concentration": 3.0, "precision_sender": 6.0, "precision_receiver": 5.0,
              "tremble_sender": 0.1, "tremble_receiver": 0.2}
    ours = Likelihood(model, data).role_loglik(model.to_vector(params))["sender"]
    assert ours == pytest.approx(reference_trust_sender(params, senders, priors), abs=1e-6)
