"""The Spark engine: the same packing and per-batch computation, distributed.

Two ways of reading, chosen in :meth:`SparkEngine.prepare`:

* **Logs in seller-time order, read as stored** (each file's sellers contiguous and
  time-ordered, no seller in two files; what ``trust generate`` writes and most exports
  partitioned by seller). The files are grouped into tasks of about ``TASK_BYTES`` (at least
  a task per core); a task reads its files with Arrow's Parquet reader in the Python worker,
  checks the order, packs the sellers (:func:`~cheaptalk.dynamics.logs.pack_stream`) and
  evaluates them. Nothing passes through the JVM but the file names and the sums. Each
  Python worker (Spark reuses them) keeps the files it packed, up to ``worker_cache_mb``,
  for the next passes, and stores them in the executor's local directory, where the other
  workers of that executor map them instead of packing them again; a file neither holds is
  simply read again (decoding Parquet costs less than shipping the data from the JVM to the
  Python workers would). The files must be readable from every executor at the same path,
  as they must be for Spark's own reader.
* **Otherwise** (events out of order, a seller spread over files, a seller table to join,
  files with different columns): Spark SQL reads the events, hash-partitions them by seller,
  sorts within partitions and ``mapInArrow`` packs each partition
  (:class:`~cheaptalk.dynamics.logs.StreamPacker`); the packed batches (pickled numpy
  arrays, one record each) are persisted in memory and on disk, and each pass is a job over
  them.

Each pass sums, over tasks, the log-likelihood, the score, the outer products of per-seller
scores and the Hessian (the compiled kernels of :mod:`cheaptalk.dynamics.kernels`); the
driver adds them up. Parameters travel in the task closure (a handful of
numbers). Tasks are deterministic functions of their input, so a failed task is simply
rerun (``spark.task.maxFailures``) with the same result.

On a cluster the same code runs through ``spark-submit`` (see
:mod:`cheaptalk.dynamics.spark_submit`); ``cheaptalk`` must be installed on the executors.
"""

from __future__ import annotations

import hashlib
import mmap
import operator
import os
import pickle
import re
import shutil
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..kernels import warm_up
from ..logs import Exclusions, LogSource, OutOfOrder, SellerOrderCheck, direct_read_plan, \
    event_columns, pack_stream, read_as_stored
from . import PassResult, first_sellers

__all__ = ["SparkEngine", "spark_session"]

# sellers the driver packs for the warm start while the executors prepare (the default
# warm-start sample of fit_trust)
SAMPLE_SELLERS = 10_000


def _java_home():
    if os.environ.get("JAVA_HOME"):
        return
    java = shutil.which("java")
    if java:
        os.environ["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)


def _local_cores(master: str) -> int:
    """Cores of a local master: ``local`` 1, ``local[N]`` or ``local[N,F]`` N, ``local[*]`` all."""
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if m is None:
        return max(2, os.cpu_count() or 1)          # e.g. a standalone master: Spark's own default
    return (os.cpu_count() or 1) if m.group(1) == "*" else int(m.group(1) or 1)


def spark_session(master: str | None = "local[2]", app_name: str = "cheaptalk-trust",
                  conf: dict | None = None):
    """A Spark session for the engine.

    ``master=None`` takes whatever ``spark-submit`` configured (cluster use). Locally the
    session binds to 127.0.0.1, has no UI and few shuffle partitions, and its Python
    workers run this interpreter.
    """
    from pyspark.sql import SparkSession
    if master is None:
        return _with_conf(_submitted_builder(app_name), conf).getOrCreate()
    _java_home()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    b = (SparkSession.builder.master(master).appName(app_name)
         .config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "4")
         # a task per core when the logs are small: each task costs a round trip to a
         # Python worker, so more tasks than cores only add round trips to every pass
         .config("spark.default.parallelism", str(_local_cores(master)))
         .config("spark.driver.memory", "2g")
         .config("spark.python.worker.reuse", "true")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
         .config("spark.sql.session.timeZone", "UTC")
         # one kernel thread per Python worker: the workers already use every core
         .config("spark.executorEnv.NUMBA_NUM_THREADS", "1"))
    return _with_conf(b, conf).getOrCreate()


def _with_conf(builder, conf: dict | None):
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    return builder


def _submitted_builder(app_name: str):
    """A builder for the session ``spark-submit`` configured, with one kernel thread per task
    in the executors' Python workers unless the submission says otherwise: each worker is one
    task slot, so kernels that each used every core of the executor would oversubscribe it."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession
    SparkContext._ensure_initialized()      # the gateway spark-submit started, to read its settings
    submitted = SparkConf()
    b = SparkSession.builder.appName(app_name)
    if not submitted.contains("spark.executorEnv.NUMBA_NUM_THREADS"):
        b = b.config("spark.executorEnv.NUMBA_NUM_THREADS", submitted.get("spark.task.cpus", "1"))
    return b


def _pack_partition(opts):
    """mapInArrow function: Arrow batches of one partition, sorted by (seller, time) ->
    packed seller batches, then one record with the partition's exclusions."""
    def run(batches):
        import pyarrow as pa

        from cheaptalk.dynamics.logs import Exclusions as _Ex
        ex = _Ex()

        def emit(b):
            return pa.RecordBatch.from_pydict(
                {"blob": [pickle.dumps(b, protocol=5)], "n_sellers": [int(b["n_sellers"])],
                 "excl": [None]}, schema=_PACKED_SCHEMA_ARROW())

        for b in pack_stream(batches, opts, ex, chunk_rows=1_000_000):
            yield emit(b)
        yield pa.RecordBatch.from_pydict({"blob": [None], "n_sellers": [0],
                                          "excl": [pickle.dumps(ex, protocol=5)]},
                                         schema=_PACKED_SCHEMA_ARROW())
    return run


def _pack_file(plan, opts, path, check: SellerOrderCheck | None = None, exclusions=None):
    """Packed batches of one file read as stored (raises OutOfOrder)."""
    yield from pack_stream(read_as_stored(plan, [path]), opts,
                           exclusions if exclusions is not None else Exclusions(),
                           check if check is not None else SellerOrderCheck())


# In each Python worker (Spark reuses them between tasks and jobs): packed files, least
# recently used first. A hit saves reading and packing a file again in the next pass; a miss
# (another worker ran that file last time, or the budget is spent) only costs the read.
_WORKER_CACHE: "OrderedDict[tuple, list]" = OrderedDict()
_WORKER_CACHE_BYTES = [0]


def _batches_nbytes(batches) -> int:
    return sum(v.nbytes for b in batches for v in b.values() if isinstance(v, np.ndarray))


def _cache_key(opts, path) -> tuple:
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns, repr(sorted(opts.to_dict().items())))


def _cache_put(key, batches, budget_bytes: float):
    size = _batches_nbytes(batches)
    if size > budget_bytes:
        return
    while _WORKER_CACHE and _WORKER_CACHE_BYTES[0] + size > budget_bytes:
        _, old = _WORKER_CACHE.popitem(last=False)
        _WORKER_CACHE_BYTES[0] -= _batches_nbytes(old)
    _WORKER_CACHE[key] = batches
    _WORKER_CACHE_BYTES[0] += size


# On each executor, the packed files are also written to Spark's local directory for the
# application (SPARK_LOCAL_DIRS, removed when the application ends), where every Python
# worker of that executor finds them: Spark hands a file's task to whichever worker is idle,
# so in the next pass it is often another worker than the one that packed the file.
_ALIGN = 64


def _stored_path(key) -> Path | None:
    local = os.environ.get("SPARK_LOCAL_DIRS")
    if not local:
        return None
    name = hashlib.sha1(repr(key).encode()).hexdigest()
    return Path(local.split(",")[0]) / "cheaptalk-packed" / f"{name}.bin"


def _write_packed(path: Path, batches):
    """Write packed batches for :func:`_read_packed`: pickle protocol 5 with the arrays out
    of band, each at an offset aligned to 64 bytes. Written under a temporary name and
    renamed, so a reader never sees half a file; a full disk only means no copy is kept."""
    buffers = []
    header = pickle.dumps(batches, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    index = np.zeros((len(raws) + 1, 2), np.int64)        # (offset, length): header, buffers
    offset = -(-(8 + index.nbytes) // _ALIGN) * _ALIGN
    for i, data in enumerate([header] + raws):
        index[i] = offset, len(data)
        offset = -(-(offset + len(data)) // _ALIGN) * _ALIGN
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(np.int64(len(raws) + 1).tobytes())
            fh.write(index.tobytes())
            for (start, _), data in zip(index, [header] + raws):
                fh.seek(int(start))
                fh.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _read_packed(path: Path):
    """The batches :func:`_write_packed` wrote, their arrays mapped from the file (private
    copy-on-write pages: writable, no copy)."""
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    n = int(np.frombuffer(view[:8], np.int64)[0])
    index = np.frombuffer(view[8:8 + 16 * n], np.int64).reshape(n, 2)
    parts = [view[int(o):int(o) + int(ln)] for o, ln in index]
    return pickle.loads(parts[0], buffers=parts[1:])


def _packed_file(plan, opts, path, budget_bytes: float):
    """The packed batches of one file: from this worker's cache if it holds them (keyed by
    path, size, modification time and packing options), else from the executor's local
    directory if another worker stored them there, else read and packed (and stored); kept
    in this worker if they fit in ``budget_bytes`` (least recently used files are evicted
    first)."""
    key = _cache_key(opts, path)
    hit = _WORKER_CACHE.get(key)
    if hit is not None:
        _WORKER_CACHE.move_to_end(key)
        return hit
    if budget_bytes <= 0:
        return _pack_file(plan, opts, path)          # streamed, nothing kept
    stored = _stored_path(key)
    if stored is not None and stored.exists():
        try:
            batches = _read_packed(stored)
            _cache_put(key, batches, budget_bytes)
            return batches
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            pass                      # unreadable (e.g. a failing disk): pack the file again
    batches = list(_pack_file(plan, opts, path))
    _keep(key, batches, budget_bytes)
    return batches


def _keep(key, batches, budget_bytes: float):
    """Keep freshly packed batches in this worker (within ``budget_bytes``) and in the
    executor's local directory, for its other workers."""
    _cache_put(key, batches, budget_bytes)
    stored = _stored_path(key)
    if stored is not None:
        _write_packed(stored, batches)


def _file_summary(plan, opts, budget_bytes: float):
    """Task of the preparing job: read, check and pack one file; return what the driver
    needs (sellers, exclusions, whether the file is in order, the sellers that start a
    run) without the batches, which stay in the worker's cache if they fit."""
    def run(path):
        from cheaptalk.dynamics.engines.spark import _cache_key, _keep
        ex = Exclusions()
        check = SellerOrderCheck()
        n_sellers = 0
        kept = []
        try:
            for b in _pack_file(plan, opts, path, check, ex):
                n_sellers += int(b["n_sellers"])
                if kept is not None:
                    kept.append(b)
                    if len(kept) % 16 == 0 and _batches_nbytes(kept) > budget_bytes:
                        kept = None
            ordered = check.finish()
        except OutOfOrder:
            ordered = False
        if ordered and kept and budget_bytes > 0:
            _keep(_cache_key(opts, path), kept, budget_bytes)
        starts = check.run_start_values() if ordered else None
        return {"path": path, "n_sellers": n_sellers, "exclusions": ex, "ordered": ordered,
                "run_starts": starts}
    return run


# Parquet bytes per task when the files are read as stored: files are grouped into tasks of
# about this size, but at least a task per core. Each task costs the scheduler and the
# Python worker a few tens of milliseconds, which matters when there are many small files
# (an export of a thousand 1 MB files would otherwise cost tens of seconds a pass).
TASK_BYTES = 256 * 2 ** 20


def _file_groups(files, n_groups: int) -> list[list[str]]:
    """The files in at most ``n_groups`` groups of about equal size (each file, largest
    first, to the lightest group), each group in file order."""
    sizes = [os.path.getsize(f) for f in files]
    groups: list[list[int]] = [[] for _ in range(max(1, min(n_groups, len(files))))]
    load = [0] * len(groups)
    for i in sorted(range(len(files)), key=lambda i: -sizes[i]):
        g = load.index(min(load))
        groups[g].append(i)
        load[g] += sizes[i]
    return [[str(files[i]) for i in sorted(g)] for g in groups if g]


def _PACKED_SCHEMA_ARROW():
    import pyarrow as pa
    return pa.schema([("blob", pa.binary()), ("n_sellers", pa.int64()), ("excl", pa.binary())])


class SparkEngine:
    name = "spark"

    def __init__(self, source: LogSource, spark=None, master: str | None = "local[2]",
                 partitions: int | None = None, task_hook=None, progress: bool = False,
                 conf: dict | None = None, worker_cache_mb: float = 1024):
        """``task_hook``, if given, is called at the start of every likelihood task (on the
        executor): a place to inject faults when testing retries. ``worker_cache_mb``: MB
        of packed files each Python worker keeps between passes (logs read as stored; 0
        reads every file again in every pass)."""
        self.source = source
        self.worker_cache_bytes = worker_cache_mb * 2 ** 20
        self._spark = spark
        self.master = master
        self.partitions = partitions
        self.task_hook = task_hook
        self.progress = progress
        self.conf = dict(conf or {})
        if not progress:
            self.conf.setdefault("spark.ui.showConsoleProgress", "false")
        self.exclusions = Exclusions()
        self.prepared = False
        self.prepare_seconds = 0.0
        self.read_in_order = False
        self._rdd = None              # persisted packed batches (shuffled path)
        self._files_rdd = None        # groups of file names, one per partition (files read as stored)
        self._plan = None
        self._counts: list[int] = []
        self._sample: list[dict] | None = None    # warm-start batches packed by the driver

    @property
    def spark(self):
        if self._spark is None:
            self._spark = spark_session(self.master, conf=self.conf)
        return self._spark

    def _events(self):
        from pyspark.sql import functions as F
        o = self.source.options
        df = self.spark.read.option("mergeSchema", "true").parquet(str(self.source.events))
        sel = [F.col(c) for c in event_columns(self.source)]
        if self.source.sellers_table is not None:
            st = self.spark.read.parquet(str(self.source.sellers_table))
            st = st.select("seller", *(["segment"] if "segment" in st.columns else []))
            st = st.withColumnRenamed("seller", "_seller_key")
            if "segment" in st.columns:
                st = st.withColumnRenamed("segment", "_table_segment")
            st = st.withColumn("_known", F.lit(True))
            df = df.join(st, df["seller"] == st["_seller_key"], "left")
            seg = F.col("_table_segment").cast("string") if "_table_segment" in df.columns else None
            if "segment" in df.columns:
                seg = F.coalesce(F.col("segment").cast("string"), seg) if seg is not None \
                    else F.col("segment").cast("string")
            if seg is not None:
                sel.append(seg.alias("segment"))
            sel.append(F.coalesce(F.col("_known"), F.lit(False)).alias("_known"))
        elif o.has_segment:
            sel.append(F.col("segment").cast("string").alias("segment"))
        return df.select(*sel)

    def prepare(self):
        """Check, count and pack the logs on the executors (one job). Meanwhile the driver,
        otherwise idle, loads the compiled kernels and, for logs read as stored, packs the
        warm-start sample from the first files (:meth:`sample`)."""
        if self.prepared:
            return self
        started = time.perf_counter()
        self.read_in_order = False
        self._plan = direct_read_plan(self.source)
        driver_work = [threading.Thread(target=warm_up, args=(self.source.options.adoption,), daemon=True)]
        if self._plan is not None:
            driver_work.append(threading.Thread(target=self._read_sample, args=(SAMPLE_SELLERS,),
                                                daemon=True))
        for thread in driver_work:
            thread.start()
        try:
            if self._plan is not None:
                self.read_in_order = self._prepare_files()
            if not self.read_in_order:
                self._plan = None
                self.exclusions = Exclusions()
                self._prepare_shuffled()
        finally:
            for thread in driver_work:
                thread.join()
        if self.exclusions.examples:
            # the examples' files and rows, for the report (the executors packed without them)
            import duckdb

            from .local import locate_examples
            con = duckdb.connect()
            locate_examples(con, self.source, self.exclusions)
            con.close()
        self.prepared = True
        self.prepare_seconds = time.perf_counter() - started
        return self

    def _read_sample(self, max_sellers: int):
        """Pack the first files' batches, about ``max_sellers`` sellers, on the driver."""
        try:
            self._sample = self._first_batches(self.source.options.for_fit(), max_sellers)
        except Exception:       # e.g. the logs are out of order: sample() reads what it needs
            self._sample = None

    def _first_batches(self, opts, max_sellers: int) -> list[dict]:
        return first_sellers((b for path in self.source.files
                              for b in _pack_file(self._plan, opts, str(path))), max_sellers)

    def _prepare_files(self) -> bool:
        """One job, the files grouped into tasks (:func:`_file_groups`): check the order and
        count; True if every file is in seller-time order and no seller starts a run in two
        places."""
        total = sum(os.path.getsize(f) for f in self.source.files)
        n_tasks = self.partitions or max(self.spark.sparkContext.defaultParallelism,
                                         -(-total // TASK_BYTES))
        groups = _file_groups(self.source.files, n_tasks)
        self._files_rdd = self.spark.sparkContext.parallelize(groups, len(groups))
        summary = _file_summary(self._plan, self.source.options.for_fit(), self.worker_cache_bytes)
        stats = self._files_rdd.flatMap(lambda group: [summary(path) for path in group]).collect()
        if not all(st["ordered"] for st in stats):
            return False
        starts = [st["run_starts"] for st in stats if st["run_starts"] is not None]
        if starts:
            all_starts = np.concatenate(starts)
            if len(set(all_starts.tolist())) != len(all_starts):
                return False
        for st in stats:
            self.exclusions.merge(st["exclusions"])
        self._counts = [st["n_sellers"] for st in stats]
        return True

    def _prepare_shuffled(self):
        """Spark SQL reads, partitions by seller and sorts; the packed batches are persisted."""
        schema = "blob binary, n_sellers long, excl binary"
        n = self.partitions or max(2, self.spark.sparkContext.defaultParallelism)
        ordered = self._events().repartition(n, "seller").sortWithinPartitions("seller", "time")
        self._collect(ordered.mapInArrow(_pack_partition(self.source.options), schema))

    def _collect(self, packed):
        """Persist the packed batches (one job packs and caches everything; only counts and
        exclusions reach the driver)."""
        from pyspark import StorageLevel
        self._rdd = packed.rdd.map(lambda r: (r["blob"], r["n_sellers"], r["excl"])) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        stats = self._rdd.map(lambda x: (x[0] is not None, x[1], x[2])).collect()
        for has_blob, n_sellers, excl in stats:
            if excl is not None:
                self.exclusions.merge(pickle.loads(excl))
        self._counts = [n for has_blob, n, _ in stats if has_blob]

    def n_sellers(self) -> int:
        self.prepare()
        return int(sum(self._counts))

    def sample(self, max_sellers: int, event_values: bool = False) -> list[dict]:
        """The first batches holding about ``max_sellers`` sellers; with ``event_values``
        every column (as :meth:`batches`)."""
        self.prepare()
        if self._plan is not None:
            # the first files, read by the driver (as Spark's reader would need them too,
            # the files are visible from the driver), or their batches packed while the
            # executors prepared
            if not event_values and self._sample is not None:
                held = sum(int(b["n_sellers"]) for b in self._sample)
                if held >= max_sellers or held == sum(self._counts):    # enough, or every seller
                    return first_sellers(self._sample, max_sellers)
            opts = self.source.options if event_values else self.source.options.for_fit()
            return self._first_batches(opts, max_sellers)
        k, n = 0, 0
        for c in self._counts:
            k += 1
            n += c
            if n >= max_sellers:
                break
        blobs = self._rdd.filter(lambda x: x[0] is not None).take(k)
        return [pickle.loads(x[0]) for x in blobs]

    def batches(self, event_values: bool = False):
        """Every packed batch, to the driver (the trajectories); with ``event_values`` with
        every column (times, recommendations, own estimates and truths too), otherwise only
        those the likelihood reads (the batches of the shuffled path hold every column)."""
        self.prepare()
        if self._plan is not None:
            opts = self.source.options if event_values else self.source.options.for_fit()
            for path in self.source.files:
                yield from _pack_file(self._plan, opts, str(path))
            return
        for x in self._rdd.filter(lambda x: x[0] is not None).toLocalIterator():
            yield pickle.loads(x[0])

    def evaluate(self, model, u, hessian: bool = False) -> PassResult:
        self.prepare()
        hook = self.task_hook
        u = np.asarray(u, float)
        p = len(u)
        plan, opts, budget = self._plan, self.source.options.for_fit(), self.worker_cache_bytes

        def run(it):
            if hook is not None:
                hook()
            from cheaptalk.dynamics.engines import PassResult as _PR, evaluate_batch
            total = _PR(p, hessian)
            for item in it:
                if plan is not None:       # a group of files (packed, or read and packed again)
                    from cheaptalk.dynamics.engines.spark import _packed_file
                    for path in item:
                        for b in _packed_file(plan, opts, path, budget):
                            total += evaluate_batch(model, u, b, hessian)
                elif item[0] is not None:  # a persisted packed batch
                    total += evaluate_batch(model, u, pickle.loads(item[0]), hessian)
            yield total

        rdd = self._files_rdd if plan is not None else self._rdd
        # one small result per partition: a plain reduce on the driver (treeReduce would add
        # a shuffle stage, about 0.15 s per pass in local mode, to save nothing)
        return rdd.mapPartitions(run).reduce(operator.add)

    def map_batches(self, func) -> list:
        """``func(batch)`` on the executors for every packed batch with every column; the
        results (picklable, small beside the logs) collected to the driver."""
        self.prepare()
        plan, opts, budget = self._plan, self.source.options, self.worker_cache_bytes

        def run(it):
            out = []
            for item in it:
                if plan is not None:
                    from cheaptalk.dynamics.engines.spark import _packed_file
                    for path in item:
                        out.extend(func(b) for b in _packed_file(plan, opts, path, budget))
                elif item[0] is not None:
                    out.append(func(pickle.loads(item[0])))
            return out

        rdd = self._files_rdd if plan is not None else self._rdd
        return rdd.mapPartitions(run).collect()

    def close(self):
        if self._rdd is not None:
            self._rdd.unpersist()
            self._rdd = None
