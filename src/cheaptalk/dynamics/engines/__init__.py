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

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
from ...errors import InputError


__all__ = ["Engine", "PassResult", "evaluate_batch", "first_sellers", "get_engine", "map_batches", "sellers_at_random", "ENGINES"]


ENGINES = ("local", "spark")


@runtime_checkable
class Engine(Protocol):
    """What the fit, the trajectories and the what-if need of an engine (both implement it).

    ``prepare()`` reads and packs the logs once (later calls do nothing); ``sample(n)``
    returns the packed batches of the first ``n`` sellers or so; ``batches()`` iterates over
    all packed batches; ``evaluate(model, u, hessian)`` sums one likelihood pass of ``model``
    (a :class:`~cheaptalk.dynamics.model.TrustDynamics`) at ``u`` over all logs;
    ``exclusions`` counts what could not be used; ``close()`` frees caches and sessions.
    """

    name: str
    source: object
    exclusions: object

    def prepare(self) -> None: ...

    def n_sellers(self) -> int: ...

    def sample(self, max_sellers: int, event_values: bool = False) -> list[dict]: ...

    def batches(self, event_values: bool = False) -> Iterator[dict]: ...

    def evaluate(self, model, u, hessian: bool = False) -> "PassResult": ...

    def close(self) -> None: ...


class PassResult:
    """Sums over sellers of one pass: log-likelihood, score, outer products of scores,
    and (optionally) the Hessian."""

    __slots__ = ("loglik", "score", "meat", "hessian", "n_sellers", "n_events", "n_decisions", "n_clusters")

    def __init__(self, p: int, hessian: bool = False):
        self.loglik = 0.0
        self.score = np.zeros(p)
        self.meat = np.zeros((p, p))
        self.hessian = np.zeros((p, p)) if hessian else None
        self.n_sellers = self.n_events = self.n_decisions = 0
        self.n_clusters = 0     # independent units: sellers, or groups sharing initial trust

    def __iadd__(self, other: "PassResult"):
        self.loglik += other.loglik
        self.score += other.score
        self.meat += other.meat
        if other.hessian is not None:
            self.hessian = other.hessian if self.hessian is None else self.hessian + other.hessian
        self.n_sellers += other.n_sellers
        self.n_clusters += other.n_clusters
        self.n_events += other.n_events
        self.n_decisions += other.n_decisions
        return self

    def __add__(self, other):
        out = PassResult(len(self.score), self.hessian is not None)
        out += self
        out += other
        return out


def evaluate_batch(model, u, batch: dict, hessian: bool = False) -> PassResult:
    """Sums over one packed batch: log-likelihood, score, outer products of the per-seller
    scores and (optionally) the exact Hessian, from one compiled pass of ``model`` (a
    :class:`~cheaptalk.dynamics.model.TrustDynamics`)."""
    ll, scores, H = model.batch_pass(u, batch, hessian)
    nb = int(batch["n_sellers"])
    r = PassResult(len(u), hessian)
    r.loglik = float(ll.sum())
    r.score = scores.sum(axis=0)
    r.meat = scores.T @ scores
    if hessian:
        r.hessian = H
    r.n_sellers = nb
    r.n_clusters = int(np.count_nonzero(batch["group_end"][:nb])) if "group_end" in batch else nb
    r.n_events = int(batch["length"].sum())
    r.n_decisions = int(batch["observed"].sum())
    return r


def evaluate_batches(model, u, batches, hessian: bool = False) -> PassResult:
    """:func:`evaluate_batch` summed over ``batches`` (in memory), one after the other."""
    total = PassResult(len(u), hessian)
    u = np.asarray(u, float)
    for b in batches:
        total += evaluate_batch(model, u, b, hessian)
    return total


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


def sellers_at_random(batches, total: int, max_sellers: int, seed: int = 0) -> list[dict]:
    """About ``max_sellers`` of the ``total`` sellers of ``batches``, each kept with the same
    probability (every seller when there are no more): a sample whose segments are in the
    proportions of the logs, whatever their order (logs stored segment by segment would
    otherwise give their first segment only)."""
    from ..logs.packing import take_sellers
    if total <= max_sellers:
        return list(batches)
    rng = np.random.default_rng([seed, 5])
    share = max_sellers / total
    out = []
    for b in batches:
        kept = take_sellers(b, rng.random(int(b["n_sellers"])) < share)
        if kept is not None:
            out.append(kept)
    return out


def map_batches(engine, func) -> list:
    """``func(batch)`` for every packed batch of ``engine``'s logs with every column: on
    Spark's executors (the results collected), elsewhere one batch after another here."""
    if hasattr(engine, "map_batches"):
        return engine.map_batches(func)
    return [func(b) for b in engine.batches(event_values=True)]


def get_engine(name: str, source, **kwargs):
    if name == "local":
        from .local import LocalEngine
        return LocalEngine(source, **kwargs)
    if name == "spark":
        from .spark import SparkEngine
        return SparkEngine(source, **kwargs)
    raise InputError(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")
