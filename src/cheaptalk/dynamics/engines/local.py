"""The local engine: Arrow reads the events (DuckDB sorts them when they are not in seller
order), compiled kernels evaluate packed batches.

Memory stays bounded whatever the size of the logs: logs in seller-time order are packed
as read, others are sorted by DuckDB out of core under ``memory_limit`` (spilling to a
temporary directory), the packer holds one chunk of rows,
and packed batches are kept in memory only up to ``cache_mb``; the rest is written to a
local spill directory and read back batch by batch in each likelihood pass.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import time
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np

from ..logs import Exclusions, LogSource, OutOfOrder, SellerOrderCheck, direct_read_plan, \
    event_columns, pack_stream, read_as_stored
from ..kernels import warm_up
from . import PassResult, evaluate_batch, first_sellers

__all__ = ["LocalEngine", "event_query"]

STORED_CHUNK_ROWS = 1 << 19      # rows packed at a time from files read as stored
SORTED_CHUNK_ROWS = 2_000_000    # rows packed at a time from DuckDB's sorted stream


def _batch_nbytes(batch: dict) -> int:
    return sum(v.nbytes for v in batch.values() if isinstance(v, np.ndarray))


def event_query(source: LogSource, order: bool = True, extra: str = "") -> str:
    """SQL reading the event columns the model needs (and the seller-table join)."""
    o = source.options
    cols = [f"e.{c}" for c in event_columns(source)]
    src = f"read_parquet('{source.glob}', hive_partitioning = true, union_by_name = true{extra})"
    if source.sellers_table is not None:
        in_events, in_table = "segment" in source.column_names(), _table_has_segment(source)
        parts = (["CAST(e.segment AS VARCHAR)"] if in_events else []) + \
            (["CAST(s.segment AS VARCHAR)"] if in_table else [])
        if parts:
            cols.append(f"coalesce({', '.join(parts)}) AS segment" if len(parts) > 1
                        else f"{parts[0]} AS segment")
        cols.append("(s.seller IS NOT NULL) AS _known")
        sql = (f"SELECT {', '.join(cols)} FROM {src} e LEFT JOIN "
               f"read_parquet('{source.sellers_table}') s ON e.seller = s.seller")
    else:
        if o.has_segment:
            cols.append("CAST(e.segment AS VARCHAR) AS segment")
        sql = f"SELECT {', '.join(cols)} FROM {src} e"
    if order:
        sql += " ORDER BY e.seller, e.time"
    return sql


def locate_examples(con, source: LogSource, exclusions) -> None:
    """Add file and row to the first excluded examples: DuckDB knows both, whichever engine
    or sort order packed the logs."""
    if not exclusions.examples:
        return
    src = (f"read_parquet('{source.glob}', hive_partitioning = true, union_by_name = true, "
           f"filename = true, file_row_number = true)")
    for ex in exclusions.examples:
        # the example's own predicates: a null seller, a missing (null or not finite) time
        seller = ("seller IS NULL", []) if ex["seller"] is None else ("seller = ?", [ex["seller"]])
        time = (("(time IS NULL OR NOT isfinite(TRY_CAST(time AS DOUBLE)))", []) if ex["time"] is None
                else ("TRY_CAST(time AS DOUBLE) = ?", [ex["time"]]))
        try:
            row = con.execute(f"SELECT filename, file_row_number FROM {src} WHERE {seller[0]} AND {time[0]} "
                              "ORDER BY filename, file_row_number LIMIT 1", seller[1] + time[1]).fetchone()
        except duckdb.Error:
            row = None
        if row:     # rows counted from 1, the first data row (as every other message of the toolkit)
            ex["file"], ex["row"] = row[0], int(row[1]) + 1


def _table_has_segment(source: LogSource) -> bool:
    import pyarrow.dataset as ds
    return "segment" in ds.dataset(source.sellers_table, format="parquet").schema.names


class LocalEngine:
    """Packs the logs once (streaming), then evaluates likelihood passes over the cache."""

    name = "local"

    def __init__(self, source: LogSource, threads: int | None = None, cache_mb: float = 1024,
                 memory_limit: str = "1GB", spill_dir: str | None = None, progress: bool = False):
        self.source = source
        # one evaluation thread: the kernel already spreads each batch over the cores, and a fixed
        # order of summation makes passes reproducible to the last bit
        self.threads = threads or 1
        self.duckdb_threads = os.cpu_count() or 1
        self.cache_bytes = cache_mb * 2 ** 20
        self.memory_limit = memory_limit
        self.progress = progress
        self._spill_root = spill_dir
        self._spill: tempfile.TemporaryDirectory | None = None
        self._memory: list[dict] = []
        self._files: list[Path] = []
        self.exclusions = Exclusions()
        self.rows_read = 0
        self._n_sellers = 0
        self._memory_bytes = 0
        self.prepared = False
        self.prepare_seconds = 0.0
        self.read_in_order = False

    # ---- preparation: one streaming pass over the Parquet files
    def _connect(self):
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute(f"SET threads = {self.duckdb_threads}")
        con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/cheaptalk-duckdb'")
        return con

    def prepare(self):
        """Read, check and pack the logs once.

        Logs already in seller-time order (each seller's events contiguous and in time
        order, as written by ``trust generate`` and by most exports partitioned by seller)
        are packed in the order they are read, which saves the sort. The order is checked
        while reading; at the first event out of order, or a seller found in two places,
        the packing starts over from a stream sorted by DuckDB (out of core). A join with
        a seller table always takes the sorted stream (a join need not keep row order).
        """
        if self.prepared:
            return self
        started = time.perf_counter()
        # the likelihood kernel loads (or compiles) while the logs are read; joined below, so
        # that no two parallel kernels ever run at once (numba's fallback threading layer
        # does not allow it)
        loading = threading.Thread(target=warm_up, args=(self.source.options.adoption,), daemon=True)
        loading.start()
        self.read_in_order = False
        plan = direct_read_plan(self.source)
        if plan is not None:
            # Arrow's Parquet reader, straight from the files, checked on the way
            self.read_in_order = self._pack_stream(read_as_stored(plan, self.source.files),
                                                   "read logs (in stored order)", SellerOrderCheck())
            if not self.read_in_order:
                self._reset()
        if not self.read_in_order:
            con = self._connect()
            self._pack_stream(self._sorted_stream(con), "read logs", chunk_rows=SORTED_CHUNK_ROWS)
            con.close()
        self._locate_examples()
        loading.join()
        self.prepared = True
        self.prepare_seconds = time.perf_counter() - started
        return self

    def _sorted_stream(self, con):
        """The events sorted by (seller, time) by DuckDB, as Arrow record batches."""
        return con.sql(event_query(self.source, order=True)).to_arrow_reader(262_144)

    def _pack_stream(self, reader, desc: str, check: SellerOrderCheck | None = None,
                     chunk_rows: int = STORED_CHUNK_ROWS) -> bool:
        """Pack a stream of record batches, decoded a few batches ahead in a background
        thread. With ``check`` (files read as stored), False as soon as the events turn out
        not to be in seller-time order."""
        bar = _bar(self.progress, desc, "ev")
        stream = _Prefetch(reader)

        def counted(batches):
            for rb in batches:
                self.rows_read += rb.num_rows
                if bar is not None:
                    bar.update(rb.num_rows)
                yield rb
        try:
            # only the columns the likelihood reads are kept for the passes
            for batch in pack_stream(counted(stream), self.source.options.for_fit(), self.exclusions,
                                     check, chunk_rows):
                self._store(batch)
            if check is not None and not check.finish():
                return False
        except OutOfOrder:
            return False
        finally:
            stream.stop()
            if bar is not None:
                bar.close()
        return True

    def _reset(self):
        self.close()
        self._memory, self._files = [], []
        self._memory_bytes = self._n_sellers = self.rows_read = 0
        self.exclusions = Exclusions()

    def _store(self, batch: dict):
        self._n_sellers += int(batch["n_sellers"])
        size = _batch_nbytes(batch)
        if self._memory_bytes + size <= self.cache_bytes:
            self._memory.append(batch)
            self._memory_bytes += size
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="cheaptalk-trust-", dir=self._spill_root)
        path = Path(self._spill.name) / f"batch-{len(self._files):06d}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(batch, fh, protocol=5)
        self._files.append(path)

    def _locate_examples(self):
        con = self._connect()
        locate_examples(con, self.source, self.exclusions)
        con.close()

    # ---- passes
    def batches(self, event_values: bool = False):
        """Packed batches: those kept for the passes of a fit, from memory then from the
        spill files; with ``event_values``, packed again from the logs with every column
        (times, recommendations, own estimates and truths too: the trajectories and the
        what-if need them, the likelihood does not)."""
        self.prepare()
        if event_values:
            yield from self._read_again(self.source.options)
            return
        yield from self._memory
        for path in self._files:
            with open(path, "rb") as fh:
                yield pickle.load(fh)

    def _read_again(self, opts):
        """Pack the logs again with ``opts``, streamed (rows were counted by ``prepare``)."""
        con = None
        if self.read_in_order:
            reader = read_as_stored(direct_read_plan(self.source), self.source.files)
            chunk_rows = STORED_CHUNK_ROWS
        else:
            con = self._connect()
            reader, chunk_rows = self._sorted_stream(con), SORTED_CHUNK_ROWS
        stream = _Prefetch(reader)
        try:
            yield from pack_stream(stream, opts, Exclusions(), None, chunk_rows)
        finally:
            stream.stop()
            if con is not None:
                con.close()

    def sample(self, max_sellers: int, event_values: bool = False) -> list[dict]:
        """The first batches holding about ``max_sellers`` sellers (warm starts; with
        ``event_values``, every column, as :meth:`batches`)."""
        batches = self.batches(event_values)
        out = first_sellers(batches, max_sellers)
        batches.close()          # (stops a re-read of the logs)
        return out

    def evaluate(self, model, u, hessian: bool = False) -> PassResult:
        total = PassResult(len(u), hessian)
        u = np.asarray(u, float)
        with ThreadPoolExecutor(self.threads) as pool:
            # bounded look-ahead keeps at most a few spilled batches in memory
            futures = []
            for b in self.batches():
                futures.append(pool.submit(evaluate_batch, model, u, b, hessian))
                if len(futures) >= 2 * self.threads:
                    total += futures.pop(0).result()
            for f in futures:
                total += f.result()
        return total

    def n_sellers(self) -> int:
        self.prepare()
        return self._n_sellers

    @property
    def n_batches(self) -> int:
        return len(self._memory) + len(self._files)

    def close(self):
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None


class _Prefetch:
    """Iterate a record-batch reader from a background thread, a few batches ahead, so that
    the reader (Arrow or DuckDB) decodes the next batches while the current one is packed
    (both release the GIL). ``stop()`` ends the thread early (and waits for it) when the consumer stops."""

    def __init__(self, reader, depth: int = 4):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(reader,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, reader):
        try:
            for rb in reader:
                if not self._put(rb):
                    return
        except BaseException as e:       # handed to the consumer, raised there
            self._put(e)
            return
        self._put(None)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self):
        self._stopped.set()
        self._thread.join()


def _bar(enabled: bool, desc: str, unit: str, total=None):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(desc=desc, unit=unit, unit_scale=True, total=total, file=sys.stderr, leave=False)
