"""Reading the event files: the columns a fit needs, the plan for reading Parquet files as
stored (in seller order), and packing a stream of record batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .exclusions import Exclusions
from .packing import SellerOrderCheck, StreamPacker, _arrow_view, _text
from .sampling import _in_seller_sample
from .schema import LogSource, PackOptions



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
    # files that store a column with different types (integer times here, floats there) are
    # read as the type both promote to (checked by resolve_logs), so that their batches join
    values = [c for c in event_columns(source)]
    schemas = [pa.schema([source.schema(f).field(c) for c in values]) for f in source.files]
    if any(sch != schemas[0] for sch in schemas[1:]):
        target = pa.unify_schemas(schemas, promote_options="permissive")
        plan = {f: (cols, segment, target) for f, (cols, segment) in plan.items()}
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
        cols, segment, *target = plan[Path(f)]
        for rb in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=cols):
            if target:
                rb = _promoted(rb, target[0])
            if segment is not None:         # the hive directory's label, for every row
                rb = rb.append_column("segment", pa.DictionaryArray.from_arrays(
                    _arrow_view(np.zeros(rb.num_rows, np.int32)), _text([segment])))
            elif "segment" in cols:
                i = rb.schema.get_field_index("segment")
                rb = rb.set_column(i, "segment", _segment_labels(rb.column(i)))
            yield rb


def _promoted(rb: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """``rb`` with its event columns cast to the types of ``target`` (segment untouched)."""
    for i, name in enumerate(rb.schema.names):
        if name in target.names and rb.schema.field(i).type != target.field(name).type:
            rb = rb.set_column(i, name, pc.cast(rb.column(i), target.field(name).type))
    return rb


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
