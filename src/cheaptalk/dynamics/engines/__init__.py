"""Engines that turn logs into packed seller batches and sum likelihood contributions.

Both engines share the packing (:mod:`cheaptalk.dynamics.logs`) and the per-batch
computation (:func:`evaluate_batch`); they differ in where the batches live and run:

* ``local`` (:class:`LocalEngine`): Arrow reads logs in seller-time order straight from
  the Parquet files (DuckDB sorts any others), batches are cached in memory up to a budget
  and spilled to local files beyond it, and each likelihood pass runs over them.
* ``spark`` (:class:`SparkEngine`): for logs in seller order each task reads, packs and
  evaluates one file (workers keep what they packed for the next passes); other logs are
  partitioned by seller, sorted and packed with ``mapInArrow`` and the packed batches
  cached. Each pass is a Spark job whose results are summed on the driver.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels import batch_pass

__all__ = ["PassResult", "ModelSpec", "evaluate_batch", "first_sellers", "get_engine", "ENGINES"]


class ModelSpec(NamedTuple):
    """What a likelihood pass needs to know of the model: the adoption kind and the number
    of initial-trust nodes (:class:`~cheaptalk.dynamics.model.TrustDynamics` has both too;
    this one does not import JAX, which the compiled passes do not use)."""
    kind: str
    n_nodes: int = 20

ENGINES = ("local", "spark")


class PassResult:
    """Sums over sellers of one pass: log-likelihood, score, outer products of scores,
    and (optionally) the Hessian."""

    __slots__ = ("loglik", "score", "meat", "hessian", "n_sellers", "n_events", "n_decisions")

    def __init__(self, p: int, hessian: bool = False):
        self.loglik = 0.0
        self.score = np.zeros(p)
        self.meat = np.zeros((p, p))
        self.hessian = np.zeros((p, p)) if hessian else None
        self.n_sellers = self.n_events = self.n_decisions = 0

    def __iadd__(self, other: "PassResult"):
        self.loglik += other.loglik
        self.score += other.score
        self.meat += other.meat
        if other.hessian is not None:
            self.hessian = other.hessian if self.hessian is None else self.hessian + other.hessian
        self.n_sellers += other.n_sellers
        self.n_events += other.n_events
        self.n_decisions += other.n_decisions
        return self

    def __add__(self, other):
        out = PassResult(len(self.score), self.hessian is not None)
        out += self
        out += other
        return out


def evaluate_batch(model: ModelSpec, u, batch: dict, hessian: bool = False) -> PassResult:
    """Sums over one packed batch: log-likelihood, score, outer products of the per-seller
    scores and (optionally) the exact Hessian, from one compiled pass
    (:func:`cheaptalk.dynamics.kernels.batch_pass`)."""
    ll, scores, H = batch_pass(model.kind, u, batch, hessian, model.n_nodes)
    nb = int(batch["n_sellers"])
    r = PassResult(len(u), hessian)
    r.loglik = float(ll.sum())
    r.score = scores.sum(axis=0)
    r.meat = scores.T @ scores
    if hessian:
        r.hessian = H
    r.n_sellers = nb
    r.n_events = int(batch["length"].sum())
    r.n_decisions = int(batch["observed"].sum())
    return r


def first_sellers(batches, max_sellers: int) -> list[dict]:
    """The leading batches of ``batches`` up to the one that brings the sellers to
    ``max_sellers`` (all of them if there are fewer); the rest of the iterable is not read."""
    out, n = [], 0
    for b in batches:
        out.append(b)
        n += int(b["n_sellers"])
        if n >= max_sellers:
            break
    return out


def get_engine(name: str, source, **kwargs):
    if name == "local":
        from .local import LocalEngine
        return LocalEngine(source, **kwargs)
    if name == "spark":
        from .spark import SparkEngine
        return SparkEngine(source, **kwargs)
    raise ValueError(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")
