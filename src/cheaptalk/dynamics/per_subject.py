"""Learning whom to trust, fitted person by person: the computational modeller's comparison.

Each subject meets several advisors (sellers of one subject), follows or ignores each piece of
advice (bets FOR or AGAINST it) and then learns whether the advisor was right. Three models of
the field, as Leong & Zaki (2018) define them, are fitted to each subject separately, with the
subject's advisors pooled (one set of parameters per subject):

* ``none`` (no learning): ``P(follow) = p`` on every trial (1 parameter).
* ``rl`` (Rescorla-Wagner): one value per advisor, ``V = 0`` at the first encounter, after each
  answered trial ``V <- V + eta (r - V)`` with ``r = +1`` when the advisor was right and ``-1``
  when wrong; ``P(follow) = 1 / (1 + exp(-beta V))`` (``eta``, ``beta``).
* ``wsls-choice`` (win-stay / lose-shift on the person's own previous choice): per advisor,
  after a win (the previous bet on that advisor was right) the same bet with probability
  ``p_stay_win``, after a loss the other bet with probability ``p_shift_lose``; the first
  encounter with an advisor is a coin flip (``p_stay_win``, ``p_shift_lose``).

Missed trials (no choice) carry no likelihood and no feedback. Fits are maximum a posteriori
with weak priors (probabilities and the learning rate Beta(1.1, 1.1), the inverse temperature
Gamma(shape 1.2, scale 5)). The MAP estimates of ``none`` and ``wsls-choice`` have closed forms
(Bernoulli counts under Beta priors); ``rl`` is maximized numerically from two starts, the best
point of its profile over a grid of 49 learning rates (the inverse temperature maximized for
each by Newton's method) and a default. Each subject's fit is scored, as in the study, by

    AICc = -2 log L + 2k + 2k(k + 1) / (N - k - 1),   corrected likelihood = exp(-AICc / (2N)),

``N`` the subject's answered trials (``log L`` at the MAP estimate); also AIC and BIC. The
comparison reports each model's mean corrected likelihood per trial with its standard error,
how many subjects it fits best (by AICc), and random-effects Bayesian model selection
(:func:`bayesian_model_selection`, with the log evidence approximated by ``-BIC / 2``);
:func:`recover_per_subject` asks whether the comparison would find the true rule on the
data's design.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import digamma, expit, gammaln, softmax

from ..errors import InputError

__all__ = ["PER_SUBJECT_RULES", "fit_subject", "compare_per_subject", "bayesian_model_selection",
           "read_advice_taking", "PerSubjectComparison", "model_free_table", "plot_model_free",
           "simulate_choices", "recover_per_subject", "recovery_lines"]


@dataclass(frozen=True)
class _Rule:
    params: tuple          # names
    bounds: tuple          # (low, high) each
    starts: tuple          # tuples of starting values
    help: str


PER_SUBJECT_RULES = {
    "none": _Rule(("p_follow",), ((1e-6, 1 - 1e-6),), ((0.5,), (0.3,), (0.7,)),
                  "no learning: a constant probability of following"),
    "rl": _Rule(("eta", "beta"), ((1e-6, 1 - 1e-6), (1e-6, 100.0)), ((0.1, 3.0),),
                "Rescorla-Wagner value per advisor, logistic choice"),
    "wsls-choice": _Rule(("p_stay_win", "p_shift_lose"), ((1e-6, 1 - 1e-6), (1e-6, 1 - 1e-6)),
                         ((0.8, 0.5), (0.6, 0.3), (0.9, 0.8)),
                         "win-stay / lose-shift on the person's own previous choice"),
}
BETA_PRIOR = (1.1, 1.1)          # probabilities and the learning rate
GAMMA_PRIOR = (1.2, 5.0)         # the inverse temperature: shape, scale
PRIORS = {"probabilities and eta": "Beta(1.1, 1.1)", "beta": "Gamma(shape 1.2, scale 5)"}


def _log_prior(rule: str, x) -> float:
    total = 0.0
    for name, v in zip(PER_SUBJECT_RULES[rule].params, x):
        if name == "beta":
            total += stats.gamma.logpdf(v, GAMMA_PRIOR[0], scale=GAMMA_PRIOR[1])
        else:
            total += stats.beta.logpdf(v, *BETA_PRIOR)
    return float(total)


def choice_probabilities(rule: str, x, advisor, choice, correct) -> np.ndarray:
    """P(follow) on each trial of one subject (NaN choices: missed trials, skipped)."""
    n = len(choice)
    p = np.full(n, np.nan)
    if rule == "none":
        p[:] = x[0]
        return p
    value, last = {}, {}
    for t in range(n):
        a = advisor[t]
        if np.isnan(choice[t]):
            continue
        if rule == "rl":
            v = value.get(a, 0.0)
            p[t] = expit(x[1] * v)
            value[a] = v + x[0] * ((1.0 if correct[t] == 1 else -1.0) - v)
        else:   # wsls-choice
            if a not in last:
                p[t] = 0.5
            else:
                prev_choice, prev_win = last[a]
                stay = x[0] if prev_win else 1 - x[1]
                p[t] = stay if prev_choice == 1 else 1 - stay
            last[a] = (choice[t], (choice[t] == 1) == (correct[t] == 1))
    return p


def _loglik(rule, x, advisor, choice, correct) -> float:
    p = choice_probabilities(rule, x, advisor, choice, correct)
    ok = ~np.isnan(choice)
    q = np.clip(np.where(choice[ok] == 1, p[ok], 1 - p[ok]), 1e-12, 1.0)
    return float(np.log(q).sum())


def _closed_form_map(rule: str, advisor, choice, correct):
    """The MAP estimate where it has a closed form (Beta(1.1, 1.1) priors on Bernoulli
    probabilities: ``(successes + 0.1) / (trials + 0.2)``): ``none`` (follows among answered
    trials) and ``wsls-choice`` (stays after wins, shifts after losses); else None."""
    lo, hi = 1e-6, 1 - 1e-6
    a = BETA_PRIOR[0] - 1

    def mode(k, n):
        return float(np.clip((k + a) / (n + 2 * a), lo, hi))

    ok = ~np.isnan(choice)
    if rule == "none":
        return [mode(float(choice[ok].sum()), float(ok.sum()))]
    if rule == "wsls-choice":
        last, counts = {}, np.zeros(4)        # stays after wins, wins, shifts after losses, losses
        for t in np.flatnonzero(ok):
            if advisor[t] in last:
                prev_choice, prev_win = last[advisor[t]]
                if prev_win:
                    counts[:2] += (choice[t] == prev_choice, 1)
                else:
                    counts[2:] += (choice[t] != prev_choice, 1)
            last[advisor[t]] = (choice[t], (choice[t] == 1) == (correct[t] == 1))
        return [mode(counts[0], counts[1]), mode(counts[2], counts[3])]
    return None


RL_ETA_GRID = expit(np.linspace(-6, 6, 49))


def _rl_values(advisor, correct, eta) -> np.ndarray:
    """``V`` before each trial for every learning rate in ``eta`` (trials x rates): the values
    depend on the rate and on whether each advisor was right, not on the choices."""
    eta = np.asarray(eta, float)
    values = {}
    out = np.zeros((len(advisor), eta.size))
    for t, a in enumerate(advisor):
        v = values.get(a, np.zeros(eta.size))
        out[t] = v
        if not np.isnan(correct[t]):
            values[a] = v + eta * ((1.0 if correct[t] == 1 else -1.0) - v)
    return out


def _rl_grid_start(advisor, choice, correct) -> tuple:
    """A start for the RL fit from its profile over a grid of learning rates: for each rate
    the posterior mode of ``beta`` by Newton's method (a logistic regression through the origin
    on ``V``, with the Gamma prior), all rates at once; the best pair on the grid."""
    ok = ~np.isnan(choice)
    V = _rl_values(advisor, correct, RL_ETA_GRID)[ok]
    y = choice[ok][:, None]
    shape, scale = GAMMA_PRIOR
    beta = np.full(RL_ETA_GRID.size, 2.0)
    for _ in range(30):
        p = expit(beta * V)
        grad = ((y - p) * V).sum(axis=0) + (shape - 1) / beta - 1 / scale
        hess = -(p * (1 - p) * V * V).sum(axis=0) - (shape - 1) / beta ** 2
        beta = np.clip(beta - grad / np.minimum(hess, -1e-9), 1e-3, 100.0)
    p = np.clip(expit(beta * V), 1e-12, 1 - 1e-12)
    post = (y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=0) + stats.gamma.logpdf(beta, shape, scale=scale) \
        + stats.beta.logpdf(RL_ETA_GRID, *BETA_PRIOR)
    j = int(np.argmax(post))
    return float(RL_ETA_GRID[j]), float(beta[j])


def fit_subject(rule: str, advisor, choice, correct) -> dict:
    """MAP fit of ``rule`` to one subject's trials (in closed form for ``none`` and
    ``wsls-choice``, else from every start of the rule); the log-likelihood at the estimate,
    AIC, AICc, BIC and the corrected likelihood per trial."""
    spec = PER_SUBJECT_RULES[rule]
    advisor, choice, correct = (np.asarray(v) for v in (advisor, choice, correct))
    choice = choice.astype(float)
    n = int((~np.isnan(choice)).sum())
    k = len(spec.params)
    x = _closed_form_map(rule, advisor, choice, correct)
    converged = True
    if x is None:
        best = None
        # rl: the best point of its profile over a grid of learning rates, and the default
        starts = ([_rl_grid_start(advisor, choice, correct), spec.starts[0]] if rule == "rl"
                  else list(spec.starts))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # finite differences at the box's edge
            for x0 in starts:
                res = optimize.minimize(lambda v: -(_loglik(rule, v, advisor, choice, correct)
                                                    + _log_prior(rule, v)),
                                        np.array(x0, float), method="L-BFGS-B", bounds=spec.bounds)
                if best is None or res.fun < best.fun:
                    best = res
        x, converged = list(best.x), bool(best.success)
    ll = _loglik(rule, x, advisor, choice, correct)
    aic = 2 * k - 2 * ll
    aicc = aic + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf)
    return {"rule": rule, "params": dict(zip(spec.params, map(float, x))), "loglik": ll, "trials": n,
            "k": k, "aic": aic, "aicc": aicc, "bic": k * np.log(max(n, 1)) - 2 * ll,
            "corrected_likelihood": float(np.exp(-aicc / (2 * n))) if n else np.nan,
            "converged": converged}


def bayesian_model_selection(log_evidence: np.ndarray, max_iter: int = 256, tol: float = 1e-8,
                             samples: int = 200_000, seed: int = 0) -> dict:
    """Random-effects Bayesian model selection (Stephan et al. 2009; Rigoux et al. 2014).

    ``log_evidence``: ``(subjects, models)``. Model frequencies ``r ~ Dirichlet(alpha_0 = 1)``,
    each subject's model ``m_n ~ Categorical(r)``; variational Bayes alternates
    ``z_nk ∝ exp(L_nk + psi(alpha_k) - psi(sum alpha))`` and ``alpha = alpha_0 + sum_n z_n``.
    Expected frequencies ``alpha / sum alpha``; exceedance probabilities ``P(r_k > r_j for all
    j)`` under the posterior Dirichlet (Monte Carlo, ``samples`` draws, seeded); the Bayesian
    omnibus risk ``BOR = 1 / (1 + exp(F1 - F0))`` (``F0``: the evidence that all models are
    equally frequent, ``F1``: the free energy of the fitted posterior) and protected
    exceedance probabilities ``(1 - BOR) EP + BOR / K``."""
    L = np.asarray(log_evidence, float)
    n, k = L.shape
    alpha0 = np.ones(k)
    alpha = alpha0.copy()
    for _ in range(max_iter):
        z = softmax(L + digamma(alpha) - digamma(alpha.sum()), axis=1)
        new = alpha0 + z.sum(axis=0)
        done = np.max(np.abs(new - alpha)) < tol
        alpha = new
        if done:
            break
    z = softmax(L + digamma(alpha) - digamma(alpha.sum()), axis=1)
    e_log_r = digamma(alpha) - digamma(alpha.sum())
    eps = 1e-300
    f1 = ((z * (L + e_log_r)).sum() + ((alpha0 - 1) * e_log_r).sum() + gammaln(alpha0.sum())
          - gammaln(alpha0).sum() - (z * np.log(z + eps)).sum()
          + gammaln(alpha).sum() - gammaln(alpha.sum()) - ((alpha - 1) * e_log_r).sum())
    w = softmax(L, axis=1)
    f0 = (w * (L + np.log(1.0 / k) - np.log(w + eps))).sum()
    bor = float(expit(f0 - f1))
    draws = np.random.default_rng(seed).dirichlet(alpha, size=samples)
    ep = np.bincount(np.argmax(draws, axis=1), minlength=k) / samples
    return {"frequency": alpha / alpha.sum(), "alpha": alpha, "exceedance": ep,
            "protected_exceedance": (1 - bor) * ep + bor / k, "bor": bor, "attribution": z}


@dataclass
class PerSubjectComparison:
    fits: pd.DataFrame          # one row per subject and rule
    rules: list
    bms: dict
    source: str = ""

    def summary_by_rule(self) -> dict:
        out = {}
        best = self.best_rule_by_subject()
        for rule in self.rules:
            part = self.fits[self.fits.rule == rule]["corrected_likelihood"]
            out[rule] = {"mean_corrected_likelihood": float(part.mean()),
                         "se": float(part.std(ddof=1) / np.sqrt(len(part))) if len(part) > 1 else float("nan"),
                         "best_fits": int((best == rule).sum())}
        return out

    def best_rule_by_subject(self) -> pd.Series:
        wide = self.fits.pivot(index="subject", columns="rule", values="aicc")[self.rules]
        return wide.idxmin(axis=1)

    def to_dict(self) -> dict:
        return {"rules": self.summary_by_rule(),
                "bms": {rule: {"frequency": float(self.bms["frequency"][i]),
                               "exceedance": float(self.bms["exceedance"][i]),
                               "protected_exceedance": float(self.bms["protected_exceedance"][i])}
                        for i, rule in enumerate(self.rules)} | {"bor": self.bms["bor"]},
                "subjects": int(self.fits.subject.nunique()), "priors": PRIORS,
                "log_evidence": "-BIC / 2", "best_fit_by": "AICc", "source": self.source}

    def __str__(self) -> str:
        rows = self.summary_by_rule()
        lines = [f"Per-subject fits on {self.source}: {self.fits.subject.nunique()} subjects "
                 "(maximum a posteriori; advisors of a subject pooled)", "",
                 f"{'rule':<12}{'corrected likelihood/trial (se)':>34}{'best fits':>11}{'BMS frequency':>15}"
                 f"{'exceedance':>12}{'protected':>11}"]
        for i, rule in enumerate(self.rules):
            r = rows[rule]
            lines.append(f"{rule:<12}{r['mean_corrected_likelihood']:>25.3f} ({r['se']:.3f}){r['best_fits']:>11d}"
                         f"{self.bms['frequency'][i]:>15.3f}{self.bms['exceedance'][i]:>12.3f}"
                         f"{self.bms['protected_exceedance'][i]:>11.3f}")
        lines.append(f"\nbest fits by AICc; Bayesian model selection with log evidence -BIC/2, Bayesian omnibus "
                     f"risk {self.bms['bor']:.3g}")
        return "\n".join(lines)


def model_free_table(trials: pd.DataFrame, fits: pd.DataFrame | None = None, rules=()) -> pd.DataFrame:
    """What the data show without a model, and each rule's forecast of it: by advisor, the
    share following at the first encounter, after a right and after a wrong recommendation
    (at the next answered trial with that advisor), and staying with one's previous bet after
    a win and after a loss. With ``fits`` (per-subject fits), each rule's mean predicted
    probability of the same events at the subjects' own estimates. One row per advisor and
    statistic: ``advisor, statistic, data, se, trials, RULE...`` (``se`` across subjects)."""
    records = []
    for subject, part in trials.sort_values(["subject", "trial"]).groupby("subject", sort=True):
        part = part[part["choice"].notna()]
        advisor, choice, correct = (part[c].to_numpy() for c in ("advisor", "choice", "correct"))
        predicted = {}
        if fits is not None:
            for rule in rules:
                row = fits[(fits.subject == subject) & (fits.rule == rule)].iloc[0]
                x = [row[name] for name in PER_SUBJECT_RULES[rule].params]
                predicted[rule] = choice_probabilities(rule, x, advisor, choice.astype(float), correct)
        seen = {}
        for t in range(len(choice)):
            a = advisor[t]
            events = []
            if a not in seen:
                events.append(("follow at the first encounter", choice[t] == 1, lambda p: p))
            else:
                prev_choice, prev_correct = seen[a]
                events.append((f"follow after a {'right' if prev_correct == 1 else 'wrong'} recommendation",
                               choice[t] == 1, lambda p: p))
                won = (prev_choice == 1) == (prev_correct == 1)
                stay_prob = (lambda p, c=prev_choice: p if c == 1 else 1 - p)
                events.append((f"stay after a {'win' if won else 'loss'}", choice[t] == prev_choice, stay_prob))
            for name, value, transform in events:
                records.append({"subject": subject, "advisor": a, "statistic": name, "data": float(value),
                                **{rule: float(transform(predicted[rule][t])) for rule in predicted}})
            seen[a] = (choice[t], correct[t])
    frame = pd.DataFrame(records)
    by_subject = frame.groupby(["advisor", "statistic", "subject"]).mean(numeric_only=True)
    grouped = by_subject.groupby(level=[0, 1])
    out = grouped.mean()
    out["se"] = grouped["data"].std(ddof=1) / np.sqrt(grouped["data"].count())
    out["trials"] = frame.groupby(["advisor", "statistic"]).size()
    return out.reset_index()[["advisor", "statistic", "data", "se", "trials", *[r for r in rules if fits is not None]]]


def plot_model_free(table: pd.DataFrame, rules, path) -> None:
    """The model-free table as small multiples: one panel per statistic, advisors on the x
    axis, the data with 95% intervals (across subjects) and each rule's forecast."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = ["follow at the first encounter", "follow after a right recommendation",
             "follow after a wrong recommendation", "stay after a win", "stay after a loss"]
    stats_order = [n for n in order if n in set(table["statistic"])]
    fig, axes = plt.subplots(1, len(stats_order), figsize=(2.6 * len(stats_order) + 1.8, 3.2), sharey=True,
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], stats_order):
        part = table[table.statistic == name].sort_values("advisor")
        x = np.arange(len(part))
        ax.errorbar(x, part["data"], yerr=1.96 * part["se"].fillna(0), fmt="o", color="black", capsize=3,
                    label="data (95% CI across subjects)")
        for k, rule in enumerate(rules):
            ax.plot(x + 0.15 * (k + 1), part[rule], "s", mfc="none", color=colors[k % len(colors)], label=rule)
        ax.set_xticks(x, [f"advisor {a}" for a in part["advisor"]], fontsize=7)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(axis="y", color="0.9")
    axes[0, 0].set_ylabel("share of bets")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def compare_per_subject(trials: pd.DataFrame, rules=("rl", "wsls-choice", "none"), source: str = "",
                        seed: int = 0) -> PerSubjectComparison:
    """Fit every rule to every subject of ``trials`` (columns ``subject, advisor, trial,
    choice, correct``) and compare them."""
    unknown = [r for r in rules if r not in PER_SUBJECT_RULES]
    if unknown:
        raise InputError(f"per-subject fits know the rules {', '.join(PER_SUBJECT_RULES)}; not {', '.join(unknown)}")
    rows = []
    for subject, part in trials.sort_values(["subject", "trial"]).groupby("subject", sort=True):
        for rule in rules:
            f = fit_subject(rule, part["advisor"].to_numpy(), part["choice"].to_numpy(float),
                            part["correct"].to_numpy(float))
            rows.append({"subject": subject, **{k: v for k, v in f.items() if k != "params"}, **f["params"]})
    fits = pd.DataFrame(rows)
    evidence = -0.5 * fits.pivot(index="subject", columns="rule", values="bic")[list(rules)].to_numpy()
    return PerSubjectComparison(fits=fits, rules=list(rules), bms=bayesian_model_selection(evidence, seed=seed),
                                source=source)


def simulate_choices(rule: str, x, advisor, correct, answered, rng, noise: float = 1.0) -> np.ndarray:
    """Choices of one subject under ``rule`` at parameters ``x`` on the subject's own design
    (advisors in the order met, whether each was right, which trials were answered; missed
    trials stay missed). ``noise`` > 1 makes the choices noisier: probabilities move toward
    1/2 by that factor, ``beta`` is divided by it."""
    x = list(x)
    if noise != 1.0:
        x = [v / noise if name == "beta" else (v if name == "eta" else 0.5 + (v - 0.5) / noise)
             for name, v in zip(PER_SUBJECT_RULES[rule].params, x)]
    n = len(advisor)
    choice = np.full(n, np.nan)
    value, last = {}, {}
    for t in range(n):
        if not answered[t]:
            continue
        a = advisor[t]
        if rule == "none":
            p = x[0]
        elif rule == "rl":
            p = expit(x[1] * value.get(a, 0.0))
        elif a not in last:
            p = 0.5
        else:
            prev_choice, prev_win = last[a]
            stay = x[0] if prev_win else 1 - x[1]
            p = stay if prev_choice == 1 else 1 - stay
        choice[t] = float(rng.random() < p)
        if rule == "rl":
            v = value.get(a, 0.0)
            value[a] = v + x[0] * ((1.0 if correct[t] == 1 else -1.0) - v)
        last[a] = (choice[t], (choice[t] == 1) == (correct[t] == 1))
    return choice


def recover_per_subject(trials: pd.DataFrame, fits: pd.DataFrame, rules, datasets: int = 10, seed: int = 0,
                        noise: float = 1.0) -> dict:
    """Model and parameter recovery on the design of ``trials``: for each rule taken as true,
    ``datasets`` data sets are simulated, each subject at her own estimates under that rule
    (``fits``) on her own design, and every rule is refitted to each subject. Returns the
    confusion matrix ``P(best by AICc | true)`` (shares of subjects, mean over data sets,
    with Monte Carlo standard errors across data sets), its inversion ``P(true | best)``
    (rules equally likely a priori), and per parameter the correlation and mean bias of the
    refitted against the simulating estimates."""
    rules = list(rules)
    rng = np.random.default_rng(seed)
    shares = {true: {best: [] for best in rules} for true in rules}
    pairs = {true: {name: ([], []) for name in PER_SUBJECT_RULES[true].params} for true in rules}
    groups = list(trials.sort_values(["subject", "trial"]).groupby("subject", sort=True))
    for true in rules:
        spec = PER_SUBJECT_RULES[true]
        for _ in range(datasets):
            counts = dict.fromkeys(rules, 0)
            for subject, part in groups:
                advisor, correct = part["advisor"].to_numpy(), part["correct"].to_numpy(float)
                row = fits[(fits.subject == subject) & (fits.rule == true)].iloc[0]
                x = [row[name] for name in spec.params]
                choice = simulate_choices(true, x, advisor, correct, part["choice"].notna().to_numpy(), rng, noise)
                refits = {r: fit_subject(r, advisor, choice, correct) for r in rules}
                counts[min(rules, key=lambda r: refits[r]["aicc"])] += 1
                for name, value in zip(spec.params, x):
                    pairs[true][name][0].append(value)
                    pairs[true][name][1].append(refits[true]["params"][name])
            for best in rules:
                shares[true][best].append(counts[best] / len(groups))
    confusion = {t: {b: float(np.mean(v)) for b, v in row.items()} for t, row in shares.items()}
    mc_se = {t: {b: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
                 for b, v in row.items()} for t, row in shares.items()}
    inverse = {b: {t: confusion[t][b] / max(sum(confusion[u][b] for u in rules), 1e-300) for t in rules}
               for b in rules}
    parameters = {t: {name: {"correlation": float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0
                             else float("nan"),
                             "bias": float(np.mean(np.asarray(b) - np.asarray(a)))}
                      for name, (a, b) in by_name.items()} for t, by_name in pairs.items()}
    return {"confusion": confusion, "mc_se": mc_se, "p_true_given_best": inverse, "parameters": parameters,
            "datasets": int(datasets), "noise": float(noise), "subjects": len(groups), "best_by": "AICc"}


def recovery_lines(recovery: dict) -> list:
    """The recovery's matrices in words, for printing."""
    rules = list(recovery["confusion"])
    lines = [f"Model recovery: {recovery['datasets']} simulated data sets per rule on this design "
             f"({recovery['subjects']} subjects, each at her own estimates); P(best by AICc | true), "
             "Monte Carlo se in parentheses", f"{'true / best':<14}" + "".join(f"{r:>20}" for r in rules)]
    for t in rules:
        lines.append(f"{t:<14}" + "".join(f"{recovery['confusion'][t][b]:>12.3f} ({recovery['mc_se'][t][b]:.3f})"
                                          for b in rules))
    lines.append("P(true | best), rules equally likely a priori")
    for b in rules:
        lines.append(f"{'best ' + b:<19}" + "".join(f"{t} {recovery['p_true_given_best'][b][t]:.3f}   "
                                                     for t in rules))
    lines.append("parameter recovery (refitted against simulating estimates): "
                 + "; ".join(f"{t}.{n} r={v['correlation']:.2f} bias={v['bias']:+.3f}"
                             for t, by in recovery["parameters"].items() for n, v in by.items()))
    return lines


def read_advice_taking(path) -> pd.DataFrame:
    """The advice-taking export (``SubID, trial_num, Advisor, choice, AdvisorCorrect``; old Mac
    line endings accepted) as ``subject, advisor, trial, choice, correct``."""
    import io
    from pathlib import Path

    text = Path(path).read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    frame = pd.read_csv(io.StringIO(text))
    needed = ["SubID", "trial_num", "Advisor", "choice", "AdvisorCorrect"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not an advice-taking export: no column {', '.join(missing)}")
    return pd.DataFrame({"subject": frame["SubID"], "advisor": frame["Advisor"], "trial": frame["trial_num"],
                         "choice": pd.to_numeric(frame["choice"], errors="coerce"),
                         "correct": pd.to_numeric(frame["AdvisorCorrect"], errors="coerce")})
