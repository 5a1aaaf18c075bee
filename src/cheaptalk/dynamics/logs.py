"""Recommendation logs: the schema, its checks, and packing into per-seller batches.

Schema (one row per recommendation event; Parquet, any number of files, any partitioning):

==================  ========  ===========================================================
column              type      meaning
==================  ========  ===========================================================
``seller``          int/str   receiver of the recommendation
``time``            int/float order of events within a seller (timestamps are accepted)
                    /timestamp
``recommendation``  float     the recommended value ``m_t`` (restock quantity, price, ...)
``action``          float     continuous adoption: what the seller did ``a_t``
``own_estimate``    float     the seller's own value ``own_t`` (required with ``action``;
                              optional with ``followed``, where what-if profits need it)
``followed``        0/1/bool  binary adoption: did the seller follow the recommendation
``truth``           float     realized value the recommendation aimed at (alias ``outcome``);
                              fidelity ``f_t = 1 - min(1, |m_t - truth_t| / scale)``
``fidelity``        float     fidelity in [0, 1] given directly (takes precedence over truth)
``feedback``        0/1/bool  did the seller see how accurate the recommendation was
``segment``         str       optional label used to group sellers in reports
==================  ========  ===========================================================

Either ``action`` + ``own_estimate`` or ``followed`` must be present (both: choose with
``adoption``). A separate seller table (``seller``, optional ``segment``) may be joined;
events of sellers missing from it are excluded and counted.

Events may be stored in any order; they are ordered by ``time`` within each seller. What
cannot be used is never dropped silently; :class:`Exclusions` counts it by reason:

* row excluded: missing seller, time or recommendation; an event of a seller unknown to the
  seller table; identical duplicate events (one copy kept); events of one seller at the same
  time with different content (their order is unknown, all are excluded);
* decision not used (the event still updates trust): missing or non-finite action or
  own estimate, ``followed`` not 0/1;
* feedback not used (the decision still counts, trust is not updated): ``feedback`` missing
  or not 0/1; feedback shown but fidelity unknown (missing truth or fidelity, fidelity
  outside [0, 1]).

Missing columns and columns of the wrong type are errors naming the file and the column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import LogsError

__all__ = ["LogSchemaError", "LogSource", "PackOptions", "Exclusions", "pack_sorted",
           "StreamPacker", "SellerOrderCheck", "resolve_logs", "EVENT_COLUMNS", "event_columns",
           "direct_read_plan", "read_as_stored", "pack_stream", "OutOfOrder", "seller_hashes",
           "seller_sample_mask"]

EVENT_COLUMNS = ("seller", "time", "recommendation", "action", "own_estimate", "followed",
                 "truth", "outcome", "fidelity", "feedback", "segment")
BATCH_CELLS = 1 << 18     # sellers x padded events per batch: bounds memory per task
# values beyond this size are not prices or quantities but errors (and would overflow the
# float32 event arrays and the squared residuals of the likelihood): such rows are excluded
MAX_MAGNITUDE = 1e12
MAX_BATCH_SELLERS = 1024  # the time scan runs fastest while (sellers x nodes) stays in cache


class LogSchemaError(LogsError):
    """The logs cannot be read as recommendation events (missing or mistyped columns)."""


@dataclass
class PackOptions:
    adoption: str                       # 'continuous' or 'binary'
    fidelity_source: str                # 'fidelity' or 'truth'
    fidelity_scale: float | None = None
    has_segment: bool = False
    has_own_estimate: bool = False      # binary adoption: own estimate logged (what-if profit)
    batch_cells: int = BATCH_CELLS
    # False: pack only what the likelihood reads (gap, act, fidelity, feedback, observed;
    # 14 bytes an event instead of 34), as the engines do for the passes of a fit; the
    # trajectories and the what-if also need time, recommendation, own estimate and truth
    event_values: bool = True
    # a random sample of sellers, the same whatever the engine and the order of the logs:
    # a seller is kept when a hash of its id (and the seed) falls below the fraction
    seller_fraction: float = 1.0
    sample_seed: int = 0

    def to_dict(self):
        return {"adoption": self.adoption, "fidelity_source": self.fidelity_source,
                "fidelity_scale": self.fidelity_scale, "has_segment": self.has_segment,
                "has_own_estimate": self.has_own_estimate,
                "batch_cells": self.batch_cells, "event_values": self.event_values,
                "seller_fraction": self.seller_fraction, "sample_seed": self.sample_seed}

    @property
    def sampled(self) -> bool:
        return self.seller_fraction < 1.0

    def for_fit(self) -> "PackOptions":
        """These options, packing only the columns the likelihood reads."""
        return replace(self, event_values=False)


@dataclass
class LogSource:
    """Where the events are and how to read them (resolved from a logs directory)."""
    events: Path                        # directory (or file) of event Parquet files
    files: list[Path]
    options: PackOptions
    sellers_table: Path | None = None
    meta: dict = field(default_factory=dict)
    schemas: dict = field(default_factory=dict, repr=False)   # file -> its Parquet schema

    def schema(self, f: Path) -> pa.Schema:
        """The schema of event file ``f`` (read once, by :func:`resolve_logs`)."""
        if f not in self.schemas:
            self.schemas[f] = pq.read_schema(f)
        return self.schemas[f]

    def column_names(self) -> set:
        """Columns found in the event files (the first 50 files' schemas)."""
        return set().union(*(self.schema(f).names for f in self.files[:50]))

    @property
    def glob(self) -> str:
        return str(self.events / "**" / "*.parquet") if self.events.is_dir() else str(self.events)


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) \
        or pa.types.is_decimal(t)


def resolve_logs(logs: str | Path, adoption: str | None = None, fidelity_scale: float | None = None,
                 sellers_table: str | Path | None = None, seller_fraction: float = 1.0,
                 sample_seed: int = 0) -> LogSource:
    """Find the event files under ``logs`` and check every file's columns.

    ``logs`` is a directory of Parquet files (searched recursively, hive partitions allowed)
    or a directory containing ``events/``; ``schema.json`` next to the events (written by
    ``cheaptalk trust generate``) supplies defaults for ``adoption`` and ``fidelity_scale``,
    and ``sellers.parquet`` there is joined as the seller table. With ``seller_fraction``
    below 1 only a random sample of the sellers is used (see :func:`seller_sample_mask`).
    """
    if not (0.0 < seller_fraction <= 1.0):
        raise ValueError(f"the fraction of sellers to sample must be in (0, 1], got {seller_fraction}")
    # absolute: on a cluster the executors read the files from their own working directories
    root = Path(logs).expanduser().absolute()
    if not root.exists():
        raise FileNotFoundError(f"logs not found: {root}")
    events = root / "events" if (root / "events").is_dir() else root
    meta = {}
    meta_file = root / "schema.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
    if sellers_table is None and (root / "sellers.parquet").exists() and events != root:
        sellers_table = root / "sellers.parquet"
    files = sorted(events.rglob("*.parquet")) if events.is_dir() else [events]
    if not files:
        raise FileNotFoundError(f"no Parquet files under {events}")
    adoption = adoption or meta.get("adoption")
    fidelity_scale = fidelity_scale if fidelity_scale is not None else meta.get("fidelity_scale")

    present_all: set[str] | None = None
    schemas, metas = {}, {}
    partition_cols = set()
    for f in files:
        # hive partition directories (name=value) supply columns too
        for part in f.relative_to(events).parts[:-1] if events.is_dir() else ():
            if "=" in part:
                partition_cols.add(part.split("=", 1)[0])
        # (the file's footer only, read once; pyarrow.dataset would import pandas, 0.35 s of start-up)
        meta = pq.read_metadata(f)
        sch = meta.schema.to_arrow_schema()
        metas[f] = meta
        schemas[f] = sch
        names = set(sch.names)
        present_all = names if present_all is None else present_all & names
    present_all = (present_all or set()) | partition_cols

    if adoption is None:
        has_a, has_f = "action" in present_all, "followed" in present_all
        if has_a and has_f:
            raise LogSchemaError(f"{events}: logs have both 'action' and 'followed'; choose the "
                                 "adoption kind (--adoption continuous|binary)")
        adoption = "continuous" if has_a else "binary" if has_f else None
        if adoption is None:
            raise LogSchemaError(f"{events}: no adoption column: need 'action' with 'own_estimate' "
                                 "(continuous) or 'followed' (binary)")
    if adoption not in ("continuous", "binary"):
        raise LogSchemaError(f"adoption must be continuous or binary, got {adoption!r}")
    if "fidelity" in present_all:
        fid_source = "fidelity"
    elif "truth" in present_all or "outcome" in present_all:
        fid_source = "truth"
        if fidelity_scale is None or not np.isfinite(fidelity_scale) or fidelity_scale <= 0:
            raise LogSchemaError(f"{events}: fidelity is derived from 'truth' as "
                                 "1 - min(1, |recommendation - truth| / scale): give a positive "
                                 "--fidelity-scale (or a 'fidelity' column)")
    else:
        fid_source = None
    required = ["seller", "time", "recommendation", "feedback"]
    required += ["action", "own_estimate"] if adoption == "continuous" else ["followed"]
    numeric = ["recommendation", "feedback"] + required[4:]
    for f, sch in schemas.items():
        names = set(sch.names) | partition_cols
        for col in required:
            if col not in names:
                raise LogSchemaError(f"{f}: missing column {col!r} (required for {adoption} "
                                     f"adoption: {', '.join(required)})")
        if fid_source is None or (fid_source == "fidelity" and "fidelity" not in names) or \
                (fid_source == "truth" and not ({"truth", "outcome"} & names)):
            raise LogSchemaError(f"{f}: missing column 'fidelity' or 'truth' (alias 'outcome'): "
                                 "the accuracy of each recommendation is needed")
        for col in numeric + [c for c in ("fidelity", "truth", "outcome", "own_estimate")
                              if c in sch.names]:
            if col in sch.names and not _is_numeric(sch.field(col).type):
                raise LogSchemaError(f"{f}: column {col!r} has type {sch.field(col).type}, "
                                     "expected numbers")
        if "time" in sch.names:
            t = sch.field("time").type
            if not (_is_numeric(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)):
                raise LogSchemaError(f"{f}: column 'time' has type {t}, expected numbers or timestamps")
            if pa.types.is_integer(t):
                _check_exact_times(f, metas[f])
    _check_seller_types(schemas)
    has_segment = "segment" in present_all
    if sellers_table is not None:
        import pyarrow.dataset as ds       # (only with a seller table: it imports pandas)
        sellers_table = Path(sellers_table).expanduser().absolute()
        names = set(ds.dataset(sellers_table, format="parquet").schema.names)
        if "seller" not in names:
            raise LogSchemaError(f"{sellers_table}: missing column 'seller' in the seller table")
        ids = ds.dataset(sellers_table, format="parquet").to_table(columns=["seller"]).column("seller")
        counts = pc.value_counts(ids)
        dup = pc.filter(counts, pc.greater(counts.field("counts"), 1))
        if len(dup):
            raise LogSchemaError(f"{sellers_table}: seller {dup[0]['values'].as_py()!r} appears "
                                 f"{dup[0]['counts'].as_py()} times in the seller table (one row per "
                                 "seller: a join would duplicate its events)")
        has_segment = has_segment or "segment" in names
    opts = PackOptions(adoption=adoption, fidelity_source=fid_source,
                       fidelity_scale=float(fidelity_scale) if fid_source == "truth" else None,
                       has_segment=has_segment,
                       has_own_estimate=adoption == "continuous" or "own_estimate" in present_all,
                       seller_fraction=float(seller_fraction), sample_seed=int(sample_seed))
    return LogSource(events=events, files=files, options=opts, sellers_table=sellers_table, meta=meta,
                     schemas=schemas)


# ---------------------------------------------------------------------------------------
# exclusions

REASONS = {
    "seller_missing": "row excluded: seller missing",
    "time_missing": "row excluded: time missing",
    "recommendation_missing": "row excluded: recommendation missing, not finite or beyond 1e12 in size",
    "unknown_seller": "row excluded: seller not in the seller table",
    "duplicate_identical": "row excluded: identical duplicate event (one copy kept)",
    "duplicate_conflicting": "row excluded: same seller and time, different content",
    "decision_missing": "decision not used: action/own estimate/followed missing or invalid (or beyond 1e12)",
    "feedback_missing": "feedback not used: feedback missing or not 0/1",
    "fidelity_unknown": "feedback not used: fidelity unknown or outside [0, 1]",
}


@dataclass
class Exclusions:
    counts: dict = field(default_factory=lambda: {k: 0 for k in REASONS})
    examples: list = field(default_factory=list)   # (reason, column, seller, time)
    max_examples: int = 5
    # rows of sellers left out of a seller sample: not used by choice, so not an exclusion
    outside_sample: int = 0

    def add(self, reason: str, column: str, mask, seller, time):
        n = int(np.count_nonzero(mask))
        if not n:
            return
        self.counts[reason] += n
        if len(self.examples) < self.max_examples:
            for i in np.flatnonzero(mask)[: self.max_examples - len(self.examples)]:
                s = seller[i]
                self.examples.append({"reason": reason, "column": column,
                                      "seller": s.item() if hasattr(s, "item") else s,
                                      "time": float(time[i]) if np.isfinite(time[i]) else None})

    def merge(self, other: "Exclusions"):
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for e in other.examples:
            if len(self.examples) < self.max_examples:
                self.examples.append(e)
        self.outside_sample += other.outside_sample
        return self

    @property
    def rows_excluded(self) -> int:
        return sum(v for k, v in self.counts.items() if REASONS[k].startswith("row excluded"))

    def to_dict(self) -> dict:
        return {"counts": {k: v for k, v in self.counts.items()},
                "rows_excluded": self.rows_excluded, "examples": self.examples,
                "rows_outside_seller_sample": self.outside_sample}

    def report_lines(self) -> list[str]:
        return [f"{REASONS[k]}: {v}" for k, v in self.counts.items() if v]


# ---------------------------------------------------------------------------------------
# packing


def _float(col) -> np.ndarray:
    """Arrow column -> float64 numpy with NaN for nulls."""
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    col = pc.cast(col, pa.float64(), safe=False)
    return pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False)


def _seller_kind(t: pa.DataType) -> str | None:
    """``"integer"`` or ``"text"`` (what a seller id is), None for any other type."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    return None


def _check_seller_types(schemas: dict) -> None:
    """One kind of seller id in every file: 17 and "17" would otherwise be two sellers on one
    engine and a schema clash on the other."""
    first = None
    for f, sch in schemas.items():
        if "seller" not in sch.names:
            continue
        t = sch.field("seller").type
        kind = _seller_kind(t)
        if kind is None:
            raise LogSchemaError(f"{f}: column 'seller' has type {t}; seller ids must be integers or text "
                                 f"(pandas turns whole numbers with gaps into floats: write them as Int64 or text)")
        if first is None:
            first = (f, kind)
        elif kind != first[1]:
            raise LogSchemaError(f"{f}: column 'seller' holds {kind} ids, but {first[0]} holds {first[1]} ids; "
                                 f"store seller ids with one type in every file")


# integer times beyond 2^53 cannot all be told apart once read as float64 (the event arrays)
_EXACT_TIME = 2 ** 53


def _check_exact_times(f: Path, meta) -> None:
    """Refuse integer times that float64 cannot hold exactly, from the file's column statistics."""
    col = meta.schema.names.index("time") if "time" in meta.schema.names else None
    if col is None:
        return
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(col).statistics
        if stats is not None and stats.has_min_max and max(abs(stats.min), abs(stats.max)) > _EXACT_TIME:
            raise LogSchemaError(f"{f}: column 'time' holds integers up to {max(abs(stats.min), abs(stats.max))}, "
                                 f"beyond 2^53, where nearby times can no longer be told apart; store times "
                                 f"relative to a start (e.g. seconds since the first event)")


def _time_as_number(col):
    """Timestamps and dates as integer microseconds; other columns unchanged."""
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        return pc.cast(pc.cast(col, pa.timestamp("us")), pa.int64())
    return col


def _time(col) -> np.ndarray:
    return _float(_time_as_number(col))


def _bucket(n: int, minimum: int = 16) -> int:
    """Round up to a quarter-octave step: few distinct shapes (each is compiled once)."""
    if n <= minimum:
        return minimum
    p = 1 << (int(n).bit_length() - 1)
    step = max(p // 4, 1)
    return -(-n // step) * step


def _cap(cells: int, t_pad: int) -> int:
    """Largest power of two of sellers with ``sellers * t_pad <= cells`` (at least 1)."""
    return min(MAX_BATCH_SELLERS, 1 << max((max(cells // t_pad, 1)).bit_length() - 1, 0))


def _pow2_ceil(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def pack_sorted(table: pa.Table, opts: PackOptions, exclusions: Exclusions) -> list[dict]:
    """Validate and pack events of whole sellers, sorted by (seller, time), into batches.

    Each batch is a dict of numpy arrays: per seller ``seller``, ``length``, ``segment``,
    ``mean_fidelity``; per (seller, event) padded to a common length ``gap``
    (``m - own``; continuous), ``act`` (``a - own`` or 0/1), ``fidelity``, ``feedback``,
    ``observed`` and, with ``opts.event_values``, ``time``, ``recommendation``, ``own`` and
    ``truth`` (NaN when fidelity is given directly). Padded sellers have length 0.
    """
    n = table.num_rows
    if n == 0:
        return []
    clean = _clean_chunk(table, opts)
    if clean is not None:
        return _batch_sellers(opts, *clean)
    seller_col = table.column("seller").combine_chunks()
    seller = seller_col.to_numpy(zero_copy_only=False)
    time = _time(table.column("time"))
    rec = _float(table.column("recommendation"))
    keep = np.ones(n, bool)

    bad = seller_col.is_null().to_numpy(zero_copy_only=False)
    if _seller_kind(seller_col.type) == "text":
        # an empty id is no seller (else every row without one would make one seller)
        bad |= pc.equal(pc.utf8_trim_whitespace(seller_col.cast(pa.string())), "").fill_null(False).to_numpy(
            zero_copy_only=False)
    exclusions.add("seller_missing", "seller", bad, seller, time)
    keep &= ~bad
    if "_known" in table.column_names:
        unknown = keep & ~_float(table.column("_known")).astype(bool)
        exclusions.add("unknown_seller", "seller", unknown, seller, time)
        keep &= ~unknown
    bad = keep & ~np.isfinite(time)
    exclusions.add("time_missing", "time", bad, seller, time)
    keep &= ~bad
    bad = keep & ~(np.abs(rec) <= MAX_MAGNITUDE)
    exclusions.add("recommendation_missing", "recommendation", bad, seller, time)
    keep &= ~bad

    if opts.adoption == "continuous":
        action, own = _float(table.column("action")), _float(table.column("own_estimate"))
        observed = (np.abs(action) <= MAX_MAGNITUDE) & (np.abs(own) <= MAX_MAGNITUDE)
        act = np.where(observed, action - own, 0.0)
        gap = np.where(observed, rec - own, 0.0)
    else:
        own = _float(table.column("own_estimate")) if "own_estimate" in table.column_names \
            else np.full(n, np.nan)
        followed = _float(table.column("followed"))
        observed = (followed == 0) | (followed == 1)
        act = np.where(observed, followed, 0.0)
        gap = np.zeros(n)
    truth = np.full(n, np.nan)
    if opts.fidelity_source == "fidelity":
        fid = _float(table.column("fidelity"))
    else:
        truth_name = "truth" if "truth" in table.column_names else "outcome"
        truth = _float(table.column(truth_name))
        fid = 1.0 - np.minimum(1.0, np.abs(rec - truth) / opts.fidelity_scale)
    fid_ok = np.isfinite(fid) & (fid >= 0) & (fid <= 1)
    fb = _float(table.column("feedback"))
    fb_ok = (fb == 0) | (fb == 1)
    feedback = fb_ok & (fb == 1) & fid_ok

    # duplicates: rows of one seller at the same time (rows are sorted by seller, time)
    if n > 1:
        same_seller = np.r_[False, pc.equal(seller_col.slice(1), seller_col.slice(0, n - 1))
                            .fill_null(False).to_numpy(zero_copy_only=False)]
        dup = same_seller & np.r_[False, time[1:] == time[:-1]] & keep & np.r_[False, keep[:-1]]
        if dup.any():
            values = np.stack([rec, act, gap, np.where(np.isfinite(fid), fid, -1.0), fb], axis=1)
            values = np.where(np.isfinite(values), values, -np.inf)
            identical = dup & np.r_[False, (values[1:] == values[:-1]).all(axis=1)]
            group = np.cumsum(~dup)                    # same (seller, time) -> same group id
            conflict_group = np.zeros(group[-1] + 1, bool)
            conflict_group[group[dup & ~identical]] = True
            conflicting = conflict_group[group] & keep
            exclusions.add("duplicate_identical", "time", identical & ~conflicting, seller, time)
            exclusions.add("duplicate_conflicting", "time", conflicting, seller, time)
            keep &= ~(identical | conflicting)

    exclusions.add("decision_missing", "action" if opts.adoption == "continuous" else "followed",
                   keep & ~observed, seller, time)
    exclusions.add("feedback_missing", "feedback", keep & ~fb_ok, seller, time)
    exclusions.add("fidelity_unknown", opts.fidelity_source, keep & fb_ok & (fb == 1) & ~fid_ok,
                   seller, time)

    all_kept = bool(keep.all())     # the common case: no row excluded, no copies needed
    idx = np.arange(n) if all_kept else np.flatnonzero(keep)
    if idx.size == 0:
        return []

    def kept(a):
        return a if all_kept else a[idx]

    k_seller = kept(seller)
    # seller boundaries among kept rows
    kept_col = seller_col if all_kept else seller_col.take(_indices(idx))
    if pa.types.is_integer(kept_col.type) and not kept_col.null_count:
        new_seller = k_seller[1:] != k_seller[:-1]
    else:
        new_seller = ~pc.equal(kept_col.slice(1), kept_col.slice(0, idx.size - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, new_seller])
    lengths = np.diff(np.r_[starts, idx.size])
    if opts.has_segment and "segment" in table.column_names:
        # one label per seller (its first kept event's)
        segment = _labels_at(table.column("segment"), idx[starts])
    else:
        segment = None
    cols = {"gap": kept(gap), "act": kept(act), "fidelity": kept(np.where(fid_ok, fid, 0.0)),
            "feedback": kept(feedback), "observed": kept(observed)}
    if opts.event_values:
        cols.update(time=kept(time), recommendation=kept(rec), own=kept(own), truth=kept(truth))
    fid_known = kept(fid_ok)
    sums = np.add.reduceat(np.where(fid_known, cols["fidelity"], 0.0), starts)
    counts = np.add.reduceat(fid_known.astype(float), starts)
    mean_fid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    return _batch_sellers(opts, cols, k_seller, starts, lengths, segment, mean_fid)


def _labels_at(column, rows) -> np.ndarray:
    """The ``segment`` labels at ``rows`` as an object array of str (None where missing);
    dictionary-encoded labels are decoded here, for these rows only (Arrow's ``to_numpy``
    of a dictionary array does not keep its nulls)."""
    taken = column.take(_indices(rows))
    if pa.types.is_dictionary(taken.type):
        taken = pc.cast(taken, taken.type.value_type)
    # (through Python objects: Arrow's to_numpy of text would import pandas; one label a seller)
    out = np.empty(len(taken), object)
    out[:] = taken.to_pylist()
    return out


def _batch_sellers(opts, cols, k_seller, starts, lengths, segment, mean_fid) -> list[dict]:
    """Group the sellers of a chunk into padded batches of similar lengths, each within
    the cell budget."""
    order = np.argsort(lengths, kind="stable")
    batches = []
    i = 0
    n_sellers = len(starts)
    while i < n_sellers:
        # the batch's padded length is set by its longest (last) seller; the number of
        # sellers is a power of two within the cell budget, so shapes repeat across batches
        cap = _cap(opts.batch_cells, _bucket(int(lengths[order[i]])))
        j = min(n_sellers, i + cap)
        t_pad = _bucket(int(lengths[order[j - 1]]))
        cap = _cap(opts.batch_cells, t_pad)
        j = min(j, i + cap)
        t_pad = _bucket(int(lengths[order[j - 1]]))
        if lengths[order[i]] == lengths[order[j - 1]] and j - i == cap:
            # a full batch of equally long sellers needs no padding (few such shapes)
            t_pad = max(int(lengths[order[i]]), 1)
        sel = order[i:j]
        b_pad = min(_pow2_ceil(len(sel)), cap)
        batches.append(_make_batch(sel, starts, lengths, cols, k_seller, segment, mean_fid,
                                   b_pad, t_pad))
        i = j
    return batches


def _one_chunk(col):
    """A chunked column as one array; without a copy when it has one chunk (Arrow's
    ``combine_chunks`` copies even then)."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


_NUMPY_DTYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
                 pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32,
                 pa.uint64(): np.uint64, pa.float32(): np.float32, pa.float64(): np.float64}


def _as_numpy(col) -> np.ndarray:
    """Arrow column -> numpy; numbers without nulls as a read-only view of Arrow's buffer.
    (Arrow's own conversion makes the same view, but first imports pandas when it is
    installed: 0.35 s of every new process, and of every Spark worker.)"""
    col = _one_chunk(col)
    dtype = _NUMPY_DTYPES.get(col.type)
    if dtype is None or col.null_count:
        return col.to_numpy(zero_copy_only=False)
    if len(col) == 0:
        return np.empty(0, dtype)
    return np.frombuffer(col.buffers()[1], dtype, len(col), col.offset * np.dtype(dtype).itemsize)


_ARROW_TYPES = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}


def _arrow_view(values: np.ndarray) -> pa.Array:
    """A numpy array of numbers as an Arrow array over the same memory (``pa.array`` would
    first import pandas, to check whether ``values`` is a pandas object)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(_ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def _indices(rows) -> pa.Array:
    """Row numbers as an Arrow int64 array (for ``take``)."""
    return _arrow_view(np.asarray(rows, np.int64))


def _text(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array, built from its buffers (``pa.array`` would
    import pandas)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    offsets[1:] = np.cumsum([len(d) for d in data])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(b"".join(data))])


def _plain(col):
    """Arrow column -> numpy without a copy, or None if it has nulls or is not numeric."""
    if col.null_count:
        return None
    col = _time_as_number(_one_chunk(col))
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return None
    return _as_numpy(col)


def _clean_chunk(table: pa.Table, opts: PackOptions):
    """The common case in one compiled pass: a chunk in which every row is usable as it
    is (nothing to exclude or count). Returns the packed columns and the seller runs, or
    None when any row needs the general path (which counts and reports it)."""
    if "_known" in table.column_names or not pa.types.is_integer(table.column("seller").type):
        return None
    continuous = opts.adoption == "continuous"
    names = ["seller", "time", "recommendation", "feedback"]
    names += ["action", "own_estimate"] if continuous else ["followed"]
    if opts.fidelity_source == "fidelity":
        names.append("fidelity")
    else:
        names.append("truth" if "truth" in table.column_names else "outcome")
    arrays = {}
    for name in names:
        a = _plain(table.column(name))
        if a is None:
            return None
        arrays[name] = a
    n = table.num_rows
    if continuous:
        own = arrays["own_estimate"]
    elif "own_estimate" in table.column_names:
        own = _plain(table.column("own_estimate"))
        if own is None:
            return None
    else:
        own = np.full(n, np.nan, np.float32)
    accuracy = arrays[names[-1]]
    values = n if opts.event_values else 0      # (empty arrays: not kept)
    out = {"gap": np.empty(n, np.float32), "act": np.empty(n, np.float32),
           "fidelity": np.empty(n, np.float32), "feedback": np.empty(n, bool),
           "observed": np.ones(n, bool), "time": np.empty(values),
           "recommendation": np.empty(values, np.float32), "own": np.empty(values, np.float32),
           "truth": np.empty(values, np.float32)}
    starts = np.empty(n, np.int64)
    mean_fid = np.empty(n)
    n_sellers = _clean_pass(arrays["seller"], arrays["time"], arrays["recommendation"],
                            arrays["action" if continuous else "followed"], own, accuracy,
                            arrays["feedback"], continuous, opts.fidelity_source != "fidelity",
                            float(opts.fidelity_scale or 1.0), opts.event_values, out["time"],
                            out["gap"], out["act"], out["fidelity"], out["recommendation"],
                            out["own"], out["truth"], out["feedback"], starts, mean_fid)
    if n_sellers < 0:
        return None
    if not opts.event_values:
        for name in ("time", "recommendation", "own", "truth"):
            del out[name]
    starts, mean_fid = starts[:n_sellers], mean_fid[:n_sellers]
    lengths = np.diff(np.r_[starts, n])
    segment = None
    if opts.has_segment and "segment" in table.column_names:
        segment = _labels_at(table.column("segment"), starts)
    return out, arrays["seller"], starts, lengths, segment, mean_fid


@numba.njit(cache=True, nogil=True)
def _clean_pass(seller, time, rec, decision, own, accuracy, feedback, continuous, from_truth, scale,
                keep_values, out_time, out_gap, out_act, out_fid, out_rec, out_own, out_truth,
                out_feedback, starts, mean_fid):
    """Fill the packed columns of a chunk sorted by (seller, time); return the number of
    sellers (their first rows in ``starts``, mean known fidelity in ``mean_fid``), or -1 at
    the first row that the general path must handle (a value to exclude, a duplicate).
    ``out_time``, ``out_rec``, ``out_own`` and ``out_truth`` are filled if ``keep_values``."""
    n = seller.shape[0]
    last_time = 0.0
    k = -1
    fid_sum = 0.0
    fid_count = 0
    for i in range(n):
        t = np.float64(time[i])
        r = np.float64(rec[i])
        fb = feedback[i]
        if not (np.isfinite(t) and abs(r) <= MAX_MAGNITUDE) or (fb != 0 and fb != 1):
            return -1
        new = i == 0 or seller[i] != seller[i - 1]
        if not new and t == last_time:
            return -1
        last_time = t
        o = np.float64(own[i])
        d = np.float64(decision[i])
        if continuous:
            if not (abs(d) <= MAX_MAGNITUDE and abs(o) <= MAX_MAGNITUDE):
                return -1
            out_gap[i] = r - o
            out_act[i] = d - o
        else:
            if d != 0.0 and d != 1.0:
                return -1
            out_gap[i] = 0.0
            out_act[i] = d
        if from_truth:
            truth = np.float64(accuracy[i])
            f = 1.0 - min(1.0, abs(r - truth) / scale)
        else:
            truth = np.nan
            f = np.float64(accuracy[i])
        known = np.isfinite(f) and f >= 0.0 and f <= 1.0
        if fb == 1 and not known:
            return -1
        if new:
            if k >= 0:
                mean_fid[k] = fid_sum / fid_count if fid_count > 0 else np.nan
            k += 1
            starts[k] = i
            fid_sum = 0.0
            fid_count = 0
        if known:
            fid_sum += f
            fid_count += 1
        out_fid[i] = f if known else 0.0
        out_feedback[i] = fb == 1
        if keep_values:
            out_time[i] = t
            out_rec[i] = r
            out_own[i] = o
            out_truth[i] = truth
    if k >= 0:
        mean_fid[k] = fid_sum / fid_count if fid_count > 0 else np.nan
    return k + 1


_EVENT_DTYPES = {"time": np.float64, "gap": np.float32, "act": np.float32, "fidelity": np.float32,
                 "recommendation": np.float32, "own": np.float32, "truth": np.float32,
                 "feedback": bool, "observed": bool}


def _make_batch(sel, starts, lengths, cols, k_seller, segment, mean_fid, b_pad, t_pad):
    nb = len(sel)
    lens = lengths[sel]
    # sellers stored one after the other with one common length: a reshape, no gather
    contiguous = nb > 0 and np.all(lens == lens[0]) and np.all(np.diff(starts[sel]) == lens[0])
    if not contiguous:
        rows = _ranges(starts[sel], lens)
        r = np.repeat(np.arange(nb), lens)
        c = rows - np.repeat(starts[sel], lens)
    out = {}
    for name, dtype in _EVENT_DTYPES.items():
        if name not in cols:
            continue
        if contiguous:
            first = starts[sel[0]]
            block = cols[name][first:first + nb * lens[0]].reshape(nb, lens[0])
            if block.dtype == dtype and block.shape == (b_pad, t_pad):
                out[name] = block          # a view of the chunk's column: no copy
                continue
            a = np.zeros((b_pad, t_pad), dtype)
            a[:nb, :lens[0]] = block
        else:
            a = np.zeros((b_pad, t_pad), dtype)
            a[r, c] = cols[name][rows]
        out[name] = a
    seller = np.empty(b_pad, dtype=k_seller.dtype)
    seller[:nb] = k_seller[starts[sel]]
    if b_pad > nb:
        seller[nb:] = seller[0]
    out["seller"] = seller
    length = np.zeros(b_pad, np.int32)
    length[:nb] = lens
    out["length"] = length
    out["n_sellers"] = nb
    mf = np.full(b_pad, np.nan)
    mf[:nb] = mean_fid[sel]
    out["mean_fidelity"] = mf
    if segment is not None:
        seg = np.empty(b_pad, dtype=object)
        seg[:nb] = segment[sel]
        out["segment"] = seg
    return out


def _ranges(starts, lengths):
    """Concatenation of arange(s, s + l) for each pair, vectorized."""
    total = int(lengths.sum())
    offs = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total) + offs


class SellerOrderCheck:
    """Checks, batch by batch, that a stream of events is in seller-time order: every
    seller's events contiguous and their times non-decreasing, no seller or time missing
    (missing values go through the sorted path, where their exclusion is well defined)."""

    def __init__(self):
        self.last_seller = None
        self.last_time = None
        self.run_starts: list = []

    def feed(self, rb: pa.RecordBatch) -> bool:
        n = rb.num_rows
        if n == 0:
            return True
        seller, time_col = rb.column("seller"), rb.column("time")
        if seller.null_count or time_col.null_count:
            return False
        t = _plain(time_col)       # no copy for plain numbers (timestamps as integers)
        if t is None:
            t = _time(time_col)
        if t.dtype.kind == "f" and np.isnan(t).any():
            return False
        if pa.types.is_integer(seller.type):
            s = _as_numpy(seller)
            new_run = np.empty(n, bool)
            new_run[1:] = s[1:] != s[:-1]
        else:
            s = seller
            new_run = np.r_[False, pc.not_equal(seller.slice(1), seller.slice(0, n - 1))
                            .to_numpy(zero_copy_only=False)]
        first = s[0].as_py() if isinstance(s, pa.Array) else s[0].item()
        new_run[0] = first != self.last_seller
        if not new_run[0] and t[0] < self.last_time:
            return False
        if np.any((t[1:] < t[:-1]) & ~new_run[1:]):
            return False
        starts = np.flatnonzero(new_run)
        if starts.size:
            self.run_starts.append(s.take(_indices(starts)) if isinstance(s, pa.Array) else s[starts])
        last = s[n - 1]
        self.last_seller = last.as_py() if isinstance(s, pa.Array) else last.item()
        self.last_time = t[-1]
        return True

    def run_start_values(self) -> np.ndarray | None:
        """The seller of every run, in stream order (None for an empty stream)."""
        if not self.run_starts:
            return None
        if isinstance(self.run_starts[0], np.ndarray):
            return np.concatenate(self.run_starts)
        return np.concatenate([_as_numpy(c) for c in self.run_starts])

    def finish(self) -> bool:
        """True if no seller appeared in two separate runs."""
        if not self.run_starts:
            return True
        if isinstance(self.run_starts[0], np.ndarray):
            starts = self.run_start_values()
            return np.unique(starts).size == starts.size
        starts = pa.chunked_array(self.run_starts)
        return pc.count_distinct(starts).as_py() == len(starts)


class StreamPacker:
    """Packs a stream of Arrow record batches sorted by (seller, time) into seller batches.

    A seller's events may be split across record batches: the trailing seller of each
    chunk is held back (``carry``) and packed on its own once the next record batch shows
    where it ends, so every packed batch has whole sellers and large record batches are
    packed without being copied. Small record batches are gathered up to ``chunk_rows``
    first. Memory is bounded by ``chunk_rows`` (or one record batch) plus one seller's events.
    """

    def __init__(self, opts: PackOptions, exclusions: Exclusions, chunk_rows: int = 2_000_000):
        self.opts, self.exclusions, self.chunk_rows = opts, exclusions, chunk_rows
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.carry: list[pa.RecordBatch] = []    # the trailing seller of the last chunk
        self.carry_seller = None
        self.rows_read = 0

    def feed(self, rb: pa.RecordBatch):
        """Add a record batch; yield packed batches when enough whole sellers are pending."""
        if rb.num_rows == 0:
            return
        self.rows_read += rb.num_rows
        if self.carry:
            k = _leading_run(rb.column("seller"), self.carry_seller)
            if k == rb.num_rows:
                self.carry.append(rb)
                return
            yield from self._pack(self.carry + [rb.slice(0, k)])
            self.carry = []
            rb = rb.slice(k)
        self.pending.append(rb)
        self.pending_rows += rb.num_rows
        if self.pending_rows < self.chunk_rows:
            return
        table = pa.Table.from_batches(self.pending)
        self.pending, self.pending_rows = [], 0
        last = table.column("seller")[-1]
        cut = table.num_rows - _leading_run(table.column("seller"), last, from_end=True)
        self.carry = table.slice(cut).to_batches()
        self.carry_seller = last
        if cut:
            yield from self._pack(table.slice(0, cut).to_batches())

    def _pack(self, batches):
        table = pa.Table.from_batches(batches)
        return pack_sorted(table.combine_chunks() if len(batches) > 1 else table,
                           self.opts, self.exclusions)

    def finish(self):
        rest = self.carry + self.pending
        self.carry, self.pending, self.pending_rows = [], [], 0
        if rest:
            yield from self._pack(rest)


def _leading_run(seller, value, from_end: bool = False) -> int:
    """Number of leading (or, ``from_end``, trailing) entries of ``seller`` equal to
    ``value`` (nulls equal to null)."""
    if isinstance(value, pa.Scalar):
        value = value.as_py()
    if isinstance(seller, pa.ChunkedArray):
        seller = _one_chunk(seller) if seller.num_chunks else pa.array([], seller.type)
    if value is None:
        same = seller.is_null().to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(seller.type) and not seller.null_count:
        same = _as_numpy(seller) == value
    else:
        same = pc.equal(seller, pa.scalar(value, seller.type)).fill_null(False).to_numpy(zero_copy_only=False)
    if from_end:
        same = same[::-1]
    k = int(np.argmin(same)) if same.size else 0
    return same.size if same.size and same[k] else k


# ---------------------------------------------------------------------------------------
# reading logs as stored, straight from the Parquet files


def event_columns(source: LogSource) -> list[str]:
    """The event columns the model reads (``segment`` is handled by each reader)."""
    o = source.options
    cols = ["seller", "time", "recommendation", "feedback"]
    cols += ["action", "own_estimate"] if o.adoption == "continuous" else \
        ["followed"] + (["own_estimate"] if o.has_own_estimate else [])
    if o.fidelity_source == "fidelity":
        cols.append("fidelity")
    else:
        cols.append("truth" if "truth" in source.column_names() else "outcome")
    return cols


def _hive_values(source: LogSource, f: Path) -> dict:
    """``name=value`` directories between the events root and file ``f``."""
    if not source.events.is_dir():
        return {}
    return dict(p.split("=", 1) for p in f.relative_to(source.events).parts[:-1] if "=" in p)


def direct_read_plan(source: LogSource) -> dict | None:
    """Which columns to read from each file when the files can be read as stored, without
    a query engine: per file, the columns it holds and the constant ``segment`` its hive
    directory gives. None when that is not possible: a seller table to join, or a column
    the model needs that some file lacks (a query engine then unifies the schemas)."""
    if source.sellers_table is not None:
        return None
    cols = event_columns(source) + (["segment"] if source.options.has_segment else [])
    plan = {}
    for f in source.files:
        names = set(source.schema(f).names)
        hive = _hive_values(source, f)
        missing = [c for c in cols if c not in names]
        if missing == ["segment"] and "segment" in hive:
            plan[f] = ([c for c in cols if c != "segment"], hive["segment"])
        elif missing:
            return None
        else:
            plan[f] = (cols, None)
    return plan


_SEGMENT_TYPE = pa.dictionary(pa.int32(), pa.string())


def _segment_labels(col) -> pa.Array:
    """A ``segment`` column as dictionary-encoded strings. Labels are only looked up at each
    seller's first event, so the column stays encoded (Parquet stores it so): decoding it
    to one string per event cost a third of the reading time."""
    if pa.types.is_dictionary(col.type):
        if col.type == _SEGMENT_TYPE:
            return col
        return pa.DictionaryArray.from_arrays(pc.cast(col.indices, pa.int32()),
                                              pc.cast(col.dictionary, pa.string()))
    return pc.dictionary_encode(pc.cast(col, pa.string()))


def read_as_stored(plan: dict, files, batch_rows: int = 1 << 20):
    """Record batches of ``files`` in stored order (file by file, row group by row group),
    decoded by Arrow's Parquet reader on all cores; ``segment`` as dictionary-encoded
    strings."""
    for f in files:
        cols, segment = plan[Path(f)]
        for rb in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=cols):
            if segment is not None:         # the hive directory's label, for every row
                rb = rb.append_column("segment", pa.DictionaryArray.from_arrays(
                    _arrow_view(np.zeros(rb.num_rows, np.int32)), _text([segment])))
            elif "segment" in cols:
                i = rb.schema.get_field_index("segment")
                rb = rb.set_column(i, "segment", _segment_labels(rb.column(i)))
            yield rb


class OutOfOrder(Exception):
    """The logs are not in seller-time order as stored (the caller sorts them instead)."""


def pack_stream(batches, opts: PackOptions, exclusions: Exclusions,
                check: "SellerOrderCheck | None" = None, chunk_rows: int = 1 << 19):
    """Pack a stream of record batches in seller-time order into seller batches. With
    ``check`` (a stream read as stored, whose order is not known), the order is checked on
    the way and :class:`OutOfOrder` raised at the first sign that it does not hold; the
    caller calls ``check.finish()`` (a seller in two runs) once every stream is packed."""
    packer = StreamPacker(opts, exclusions, chunk_rows=chunk_rows)
    for rb in batches:
        if opts.sampled:
            rb = _in_seller_sample(rb, opts, exclusions)
            if rb.num_rows == 0:
                continue
        if check is not None and not check.feed(rb):
            raise OutOfOrder
        yield from packer.feed(rb)
    yield from packer.finish()


# ---------------------------------------------------------------------------------------
# a random sample of sellers

_GOLDEN = 0x9E3779B97F4A7C15


@numba.njit(cache=True, nogil=True)
def _mix64(z):
    """SplitMix64's finalizer: a bijection of uint64 whose output bits look independent."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _int_seller_hashes(values, salt, out):
    for i in range(values.shape[0]):
        out[i] = _mix64(values[i] ^ salt)


@numba.njit(cache=True, nogil=True)
def _str_seller_hashes(offsets, data, salt, out):
    # FNV-1a over the UTF-8 bytes, then mixed with the salt
    for i in range(offsets.shape[0] - 1):
        h = np.uint64(0xCBF29CE484222325)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(0x100000001B3)
        out[i] = _mix64(h ^ salt)


def seller_hashes(seller, seed: int = 0) -> np.ndarray:
    """A 64-bit hash of every seller id (uint64; any value for a null), stable across processes,
    machines and engines: integer ids of any width are hashed by value (SplitMix64), text
    ids by their UTF-8 bytes (FNV-1a, then SplitMix64); other types as their text."""
    seller = _one_chunk(seller)
    if pa.types.is_dictionary(seller.type):
        seller = pc.cast(seller, seller.type.value_type)
    salt = np.uint64(_mix64(np.uint64((int(seed) + _GOLDEN) % (1 << 64))))
    out = np.zeros(len(seller), np.uint64)
    if pa.types.is_integer(seller.type):
        values = seller if seller.type == pa.int64() else pc.cast(seller, pa.int64())
        if len(values):
            # the values buffer as it is: a null's slot hashes to anything (nulls are kept)
            raw = np.frombuffer(values.buffers()[1], np.uint64, len(values), values.offset * 8)
            _int_seller_hashes(raw, salt, out)
    else:
        text = pc.cast(seller, pa.large_string())
        _, offsets, data = text.buffers()
        offsets = np.frombuffer(offsets, np.int64)[text.offset:text.offset + len(text) + 1]
        data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        _str_seller_hashes(offsets, data, salt, out)
    return out


def seller_sample_mask(seller, fraction: float, seed: int = 0) -> np.ndarray:
    """Which rows belong to the sample of sellers: ``hash(seller, seed) < fraction * 2^64``.

    Each seller is in the sample with probability ``fraction``, independently of the others,
    with all its events; the same sellers are drawn by every engine, whatever the order or
    the partitioning of the logs. Rows without a seller are kept, so that they are counted
    as exclusions like any other unusable row."""
    seller = _one_chunk(seller)
    keep = seller_hashes(seller, seed) < np.uint64(min(int(fraction * 2.0 ** 64), (1 << 64) - 1))
    if seller.null_count:
        keep |= seller.is_null().to_numpy(zero_copy_only=False)
    return keep


def _in_seller_sample(rb: pa.RecordBatch, opts: PackOptions, exclusions: Exclusions) -> pa.RecordBatch:
    keep = seller_sample_mask(rb.column("seller"), opts.seller_fraction, opts.sample_seed)
    n_keep = int(np.count_nonzero(keep))
    exclusions.outside_sample += rb.num_rows - n_keep
    if n_keep == rb.num_rows:
        return rb
    bits = pa.py_buffer(np.packbits(keep, bitorder="little"))    # (pa.array would import pandas)
    return rb.filter(pa.Array.from_buffers(pa.bool_(), rb.num_rows, [None, bits]))
