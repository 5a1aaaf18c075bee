"""Panel and per-decision likelihoods built from a model's type components.

For subject ``i`` of role ``r`` with decisions ``d in D_i``::

    log L_i = log sum_t w_t prod_{d in D_i} f(d | t)
            = logsumexp_t ( log w_t + sum_{d in D_i} log f(d | t) )

Types are fixed per subject across rounds (panel likelihood). The per-decision
log-likelihood treats each decision on its own, ``log sum_t w_t f(d | t)``; it is what
cross-validation reports per decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._jax import jax, jnp

__all__ = ["RoleData", "split_roles", "subject_loglik", "decision_loglik", "total_loglik",
           "type_posteriors", "segment_sum"]


@dataclass
class RoleData:
    """The decisions of one role with integer subject codes (0..n_subjects-1)."""

    frame: pd.DataFrame
    subject_codes: np.ndarray
    subjects: np.ndarray            # subject id of each code
    treatment_codes: np.ndarray = field(default=None)
    treatments: list = field(default_factory=list)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_decisions(self) -> int:
        return len(self.frame)


def split_roles(data: pd.DataFrame, treatments: list[str] | None = None) -> dict:
    """``{role: RoleData}`` for the roles present in a clean long-format frame.

    Subjects are identified by ``(session, subject)`` when a session column exists, so the
    same subject label in two sessions is two people.
    """
    out = {}
    for role in ("sender", "receiver"):
        frame = data[data["role"] == role].reset_index(drop=True)
        if frame.empty:
            continue
        key = frame["subject"].astype(str)
        if "session" in frame.columns:
            key = frame["session"].astype(str) + "/" + key
        codes, uniques = pd.factorize(key, sort=True)
        if "treatment" in frame.columns:
            tnames = treatments or sorted(frame["treatment"].astype(str).unique())
            tcodes = pd.Categorical(frame["treatment"].astype(str), categories=tnames).codes
        else:
            tnames, tcodes = ["default"], np.zeros(len(frame), dtype=int)
        out[role] = RoleData(frame=frame, subject_codes=np.asarray(codes), subjects=np.asarray(uniques),
                             treatment_codes=np.asarray(tcodes), treatments=list(tnames))
    return out


def segment_sum(values, codes, n):
    return jax.ops.segment_sum(values, jnp.asarray(codes), num_segments=n)


def subject_loglik(model, theta, prepared) -> dict:
    """``{role: (n_subjects,)}`` panel log-likelihood contributions."""
    out = {}
    for role, comp in model.components(theta, prepared).items():
        rd = prepared.roles[role]
        per_type = segment_sum(comp.logf, rd.subject_codes, rd.n_subjects)     # (I, T)
        out[role] = jax.scipy.special.logsumexp(per_type + comp.log_weights[None, :], axis=1)
    return out


def total_loglik(model, theta, prepared):
    return sum(jnp.sum(v) for v in subject_loglik(model, theta, prepared).values())


def decision_loglik(model, theta, prepared) -> dict:
    """``{role: (n_decisions,)}`` log-likelihood of each decision on its own."""
    return {role: jax.scipy.special.logsumexp(comp.logf + comp.log_weights[None, :], axis=1)
            for role, comp in model.components(theta, prepared).items()}


def type_posteriors(model, theta, prepared) -> dict:
    """``{role: (n_subjects, T)}`` posterior probability of each type given all her decisions."""
    out = {}
    for role, comp in model.components(theta, prepared).items():
        rd = prepared.roles[role]
        joint = segment_sum(comp.logf, rd.subject_codes, rd.n_subjects) + comp.log_weights[None, :]
        out[role] = np.asarray(jnp.exp(joint - jax.scipy.special.logsumexp(joint, axis=1, keepdims=True)))
    return out
