"""An engine over packed batches already in memory: a subset of a larger engine's sellers
(the folds of a cross-validation), fitted by :func:`~cheaptalk.dynamics.estimate.fit_trust`
like any other logs."""

from __future__ import annotations

import numpy as np

from ..logs.packing import _per_seller, take_sellers
from . import PassResult, evaluate_batches, first_sellers

__all__ = ["MemoryEngine", "take_sellers", "group_by_subject", "regroup_by_subject", "SharedTrustEngine",
           "subjects_from_sellers_table"]


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
        return evaluate_batches(model, u, self._batches, hessian)

    def close(self) -> None:
        self._batches = []


# sellers per regrouped batch (whole subjects: a batch may hold more to keep one together)
GROUPED_BATCH_SELLERS = 4096


def _stack_sellers(batches: list[dict]) -> dict:
    """The sellers of ``batches`` in one packed batch (events padded to the longest)."""
    rows = [int(b["n_sellers"]) for b in batches]
    T = max(b["gap"].shape[1] for b in batches)
    out = {}
    for key, value in batches[0].items():
        if not _per_seller(batches[0], value):
            continue
        parts = []
        for b, n in zip(batches, rows):
            v = b[key][:n]
            if v.ndim == 2 and v.shape[1] < T:
                v = np.concatenate([v, np.zeros((n, T - v.shape[1]), v.dtype)], axis=1)
            parts.append(v)
        out[key] = np.concatenate(parts)
    out["n_sellers"] = sum(rows)
    return out


def group_by_subject(batches: list[dict], subject_of) -> list[dict]:
    """Packed batches with each subject's sellers next to each other and a ``group_end``
    flag on the last seller of each subject, for the passes with a shared initial trust.
    ``subject_of`` maps a seller id to its subject."""
    batches = [b for b in batches if int(b["n_sellers"])]
    if not batches:
        return []
    every = _stack_sellers(batches)
    subjects = np.array([str(subject_of[s]) for s in every["seller"]], dtype=object)
    order = np.argsort(subjects, kind="stable")
    subjects = subjects[order]
    ends = np.r_[subjects[1:] != subjects[:-1], True]
    out, start = [], 0
    n = len(order)
    while start < n:
        stop = min(start + GROUPED_BATCH_SELLERS, n)
        while stop < n and not ends[stop - 1]:
            stop += 1                      # keep a subject in one batch
        keep = order[start:stop]
        batch = {k: (v[keep] if _per_seller(every, v) else v) for k, v in every.items()}
        batch["n_sellers"] = int(stop - start)
        batch["group_end"] = ends[start:stop].copy()
        batch["subject"] = subjects[start:stop]
        out.append(batch)
        start = stop
    return out


class SharedTrustEngine(MemoryEngine):
    """``parent``'s logs with a shared initial trust per subject: its packed batches, read
    once into memory, regrouped so that each subject's sellers (say, one subject's advisors)
    are together and share one draw of initial trust (:func:`group_by_subject`). The passes
    then mix over the initial-trust nodes once per subject, and the standard errors cluster
    by subject."""

    grouped_by = "subject"

    def __init__(self, parent):
        parent.prepare()
        super().__init__(parent, regroup_by_subject(parent, parent.batches()))
        self.name = parent.name

    def n_subjects(self) -> int:
        return sum(int(np.count_nonzero(b["group_end"])) for b in self._batches)


def regroup_by_subject(engine, batches) -> list[dict]:
    """``batches`` of ``engine``'s logs grouped by subject (:func:`group_by_subject`), the
    subjects read from the engine's seller table (:func:`subjects_from_sellers_table`)."""
    return group_by_subject(list(batches), subjects_from_sellers_table(engine.source.sellers_table))


def subjects_from_sellers_table(path) -> dict:
    """``seller -> subject`` from the seller table's ``subject`` column (Parquet)."""
    import pyarrow.parquet as pq

    from ...errors import InputError
    if path is None:
        raise InputError("a shared initial trust needs the subject of every seller: give a seller table "
                         "(--sellers-table FILE, Parquet) with the columns seller and subject")
    names = pq.read_schema(path).names
    if "subject" not in names:
        raise InputError(f"{path}: no column 'subject' in the seller table (it has {', '.join(names)}); a shared "
                         "initial trust needs each seller's subject")
    table = pq.read_table(path, columns=["seller", "subject"])
    missing = table.column("subject").null_count
    if missing:
        raise InputError(f"{path}: column 'subject' is empty for {missing:,} of {table.num_rows:,} sellers")
    return dict(zip(table.column("seller").to_pylist(), table.column("subject").to_pylist()))
