"""The log schema: columns, options of packing, where the logs are, and the checks of every
file's columns and types (:func:`resolve_logs`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import InputError, LogSchemaError

EVENT_COLUMNS = ("seller", "time", "recommendation", "action", "own_estimate", "followed",
                 "truth", "outcome", "fidelity", "feedback", "segment")
BATCH_CELLS = 1 << 18     # sellers x padded events per batch: bounds memory per task
# values beyond this size are not prices or quantities but errors (and would overflow the
# float32 event arrays and the squared residuals of the likelihood): such rows are excluded
MAX_MAGNITUDE = 1e12
MAX_BATCH_SELLERS = 1024  # the time scan runs fastest while (sellers x nodes) stays in cache


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
        raise InputError(f"the fraction of sellers to sample must be in (0, 1], got {seller_fraction}")
    # absolute: on a cluster the executors read the files from their own working directories
    root = Path(logs).expanduser().absolute()
    if not root.exists():
        raise FileNotFoundError(f"logs not found: {root}")
    events = root / "events" if (root / "events").is_dir() else root
    meta = {}
    meta_file = root / "schema.json"
    if meta_file.exists():
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise LogSchemaError(f"{meta_file}: not a readable JSON file ({str(exc)[:200]}); remove it or write "
                                 f"it again with `cheaptalk trust generate` or `cheaptalk import`") from None
        if not isinstance(meta, dict):
            raise LogSchemaError(f"{meta_file}: not the logs' schema (a JSON object with 'adoption')")
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
        try:
            meta = pq.read_metadata(f)
            sch = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            size = f.stat().st_size if f.exists() else 0
            raise LogSchemaError(f"{f}: not a readable Parquet file ({'0 bytes' if not size else str(exc)[:200]}); "
                                 f"remove or replace it") from None
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
    _check_column_types(schemas, numeric + ["time", "fidelity", "truth", "outcome", "own_estimate"])
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


def _check_column_types(schemas: dict, columns) -> None:
    """Columns that files store with different types must promote to one (integers and
    floats do: they are read as floats); timestamps in one file and numbers in another do not."""
    for col in dict.fromkeys(columns):
        typed = [(f, sch.field(col).type) for f, sch in schemas.items() if col in sch.names]
        first = typed[0] if typed else None
        for f, t in typed[1:]:
            if t == first[1]:
                continue
            try:
                pa.unify_schemas([pa.schema([(col, first[1])]), pa.schema([(col, t)])], promote_options="permissive")
            except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise LogSchemaError(f"{f}: column {col!r} has type {t}, but {first[0]} stores it as {first[1]}; "
                                     f"store it with one type in every file") from None


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
