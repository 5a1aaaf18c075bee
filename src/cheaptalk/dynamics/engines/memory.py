"""An engine over packed batches already in memory: a subset of a larger engine's sellers
(the folds of a cross-validation), fitted by :func:`~cheaptalk.dynamics.estimate.fit_trust`
like any other logs."""

from __future__ import annotations

import numpy as np

from . import PassResult, evaluate_batch, first_sellers

__all__ = ["MemoryEngine", "take_sellers"]


def take_sellers(batch: dict, keep: np.ndarray) -> dict | None:
    """The sellers of ``batch`` where ``keep`` (a boolean array over its ``n_sellers``
    sellers) is true, as a packed batch of their own; ``None`` when none is kept."""
    nb = int(batch["n_sellers"])
    rows = np.flatnonzero(np.asarray(keep, bool)[:nb])
    if rows.size == 0:
        return None
    out = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == batch["length"].shape[0]:
            out[key] = value[rows]
        else:
            out[key] = value
    out["n_sellers"] = int(rows.size)
    return out


class MemoryEngine:
    """The :class:`~cheaptalk.dynamics.engines.Engine` protocol over ``batches`` (packed, in
    memory) that came from ``parent``'s logs; exclusions are the parent's."""

    name = "memory"

    def __init__(self, parent, batches: list[dict]):
        self.source = parent.source
        self.exclusions = parent.exclusions
        self._batches = list(batches)

    def prepare(self) -> None:
        pass

    def n_sellers(self) -> int:
        return sum(int(b["n_sellers"]) for b in self._batches)

    def sample(self, max_sellers: int, event_values: bool = False) -> list[dict]:
        return first_sellers(self._batches, max_sellers)

    def batches(self, event_values: bool = False):
        yield from self._batches

    def evaluate(self, model, u, hessian: bool = False) -> PassResult:
        total = PassResult(len(u), hessian)
        for b in self._batches:
            total += evaluate_batch(model, np.asarray(u, float), b, hessian)
        return total

    def close(self) -> None:
        self._batches = []
