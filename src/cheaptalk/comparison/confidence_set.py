"""Which models the held-out data cannot tell apart: the model confidence set.

The model confidence set of Hansen, Lunde & Nason (2011) is the set of models that contains
the best one (the one with the lowest expected loss) with probability at least ``level``.
Here the loss of model ``m`` on subject ``g`` is minus its held-out panel log-likelihood,
``L_gm = -log L_g(theta_train(g), m)`` from cross-validation by subject (every subject is held
out once, so every subject has a loss under every model). Starting from all models, the
procedure tests equal expected loss with the range statistic

    T_R = max_{i,j} |dbar_ij| / se(dbar_ij),   dbar_ij = mean_g (L_gi - L_gj),

whose null distribution comes from a bootstrap of subjects, and while it rejects, removes the
model with the largest standardized mean loss; the models left form the set. Subjects are
independent, so the bootstrap draws them one at a time (a block of one). The implementation
is ``arch``'s :class:`arch.bootstrap.MCS` (the field's standard one).

A verdict names one model only when the set holds one; otherwise the data say "A and B are
indistinguishable; both beat C".
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_LEVEL", "MCS_REPLICATIONS", "model_confidence_set", "set_statement"]

DEFAULT_LEVEL = 0.90
MCS_REPLICATIONS = 1000


def model_confidence_set(losses: dict, level: float = DEFAULT_LEVEL, reps: int = MCS_REPLICATIONS,
                         seed: int = 0) -> dict:
    """The ``level`` model confidence set of the models in ``losses`` (``{name: per-subject
    losses}``, the same subjects in the same order for every model).

    Returns ``{"members": [...], "excluded": [...], "p_values": {name: MCS p-value}, "level",
    "method", "replications"}``, members in the order of their mean loss (best first). A model
    is in the set when its MCS p-value is at least ``1 - level``. One model: the set is it.
    """
    from arch.bootstrap import MCS

    names = list(losses)
    if not 0 < level < 1:
        raise ValueError(f"the confidence level must lie between 0 and 1, got {level}")
    matrix = np.column_stack([np.asarray(losses[n], float) for n in names]) if names else np.empty((0, 0))
    order = sorted(names, key=lambda n: float(np.mean(losses[n])))
    out = {"level": float(level), "method": "model confidence set (Hansen, Lunde & Nason 2011), range statistic, "
                                            f"bootstrap of subjects, {reps} replications",
           "replications": int(reps)}
    if len(names) < 2:
        return {**out, "members": order, "excluded": [], "p_values": {n: 1.0 for n in names}}
    if matrix.shape[0] < 2 or not np.all(np.isfinite(matrix)):
        raise ValueError("the model confidence set needs finite held-out losses of at least two subjects")
    differences = matrix - matrix[:, [0]]
    if np.all(np.abs(differences) <= 1e-12 * max(1.0, float(np.abs(matrix).max()))):
        # every model gives every subject the same loss: nothing to eliminate
        return {**out, "members": order, "excluded": [], "p_values": {n: 1.0 for n in names}}
    mcs = MCS(matrix, size=1 - level, reps=reps, block_size=1, method="R", bootstrap="circular", seed=seed)
    mcs.compute()
    p = {names[int(i)]: float(v) for i, v in mcs.pvalues["Pvalue"].items()}
    members = [n for n in order if p[n] >= 1 - level - 1e-12]
    return {**out, "members": members, "excluded": [n for n in order if n not in members], "p_values": p}


def _listing(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def set_statement(members, excluded, level: float) -> str:
    """The sentence a verdict prints for one confidence set."""
    head = f"{_listing(members)} " + ("is best" if len(members) == 1 else "are indistinguishable")
    if excluded:
        head += ("; it beats " if len(members) == 1 else "; both beat " if len(members) == 2 else "; all beat ")
        head += _listing(excluded)
    return head + f" ({100 * level:.0f}% model confidence set)"
