"""The Spark engine: the same packing and per-batch computation, distributed.

Preparation is one Spark job: events are read from Parquet and ``mapInArrow`` packs each
partition's stream of Arrow batches into seller batches (the shared
:class:`~cheaptalk.dynamics.logs.StreamPacker`). Logs stored in seller-time order (each
partition's sellers contiguous and time-ordered, no seller in two partitions; checked while
packing) need no shuffle. Otherwise, or with a seller table to join, the events are
hash-partitioned by seller and sorted by (seller, time) within partitions first. The packed
batches (pickled numpy arrays, one record each) are persisted in memory and on disk.

Each likelihood pass of the optimizer is one Spark job: every task evaluates the batches
of its partition (log-likelihood, score, the outer products of per-seller scores and the
Hessian, with the compiled kernels of :mod:`cheaptalk.dynamics.kernels`) and returns the sums; the driver adds
them up (``treeReduce``). Parameters travel in the task closure (a handful of numbers).
Tasks are deterministic functions of their partition, so a failed task is simply rerun
(``spark.task.maxFailures``) with the same result.

On a cluster the same code runs through ``spark-submit`` (see
:mod:`cheaptalk.dynamics.spark_submit`); ``cheaptalk`` must be installed on the executors.
"""

from __future__ import annotations

import operator
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..logs import Exclusions, LogSource
from . import PassResult

__all__ = ["SparkEngine", "spark_session", "whole_file_conf"]


def _java_home():
    if os.environ.get("JAVA_HOME"):
        return
    java = shutil.which("java")
    if java:
        os.environ["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)


def spark_session(master: str | None = "local[2]", app_name: str = "cheaptalk-trust",
                  conf: dict | None = None):
    """A Spark session for the engine.

    ``master=None`` takes whatever ``spark-submit`` configured (cluster use). Locally the
    session binds to 127.0.0.1, has no UI and few shuffle partitions, and its Python
    workers run this interpreter.
    """
    from pyspark.sql import SparkSession
    if master is None:
        return SparkSession.builder.appName(app_name).getOrCreate()
    _java_home()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    b = (SparkSession.builder.master(master).appName(app_name)
         .config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.default.parallelism", "4")
         .config("spark.driver.memory", "2g")
         .config("spark.python.worker.reuse", "true")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
         .config("spark.sql.session.timeZone", "UTC")
         # one kernel thread per Python worker: the workers already use every core
         .config("spark.executorEnv.NUMBA_NUM_THREADS", "1"))
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    return b.getOrCreate()


def whole_file_conf(files) -> dict:
    """Spark SQL settings under which each Parquet file of up to 1 GiB is read by one task
    (Spark would otherwise split files at row groups, cutting sellers). The split size is
    ``min(maxPartitionBytes, total / minPartitionNum)``: both must allow a whole file."""
    largest = max(Path(f).stat().st_size for f in files)
    if largest > 2 ** 30:
        return {}
    return {"spark.sql.files.maxPartitionBytes": str(largest + 1), "spark.sql.files.minPartitionNum": "1"}


def _pack_partition(opts, check_order: bool = False):
    """mapInArrow function: Arrow batches of one partition -> packed seller batches, then one
    record with the partition's exclusions.

    Without ``check_order`` the partition arrives sorted by (seller, time). With it, the
    partition is read as stored and checked on the way (:class:`SellerOrderCheck`); the
    last record then also says whether the order held and lists the sellers that start a
    run, so that the driver can check that no seller spans two partitions. A partition
    found out of order stops early: the engine then sorts.
    """
    def run(batches):
        import pyarrow as pa

        from cheaptalk.dynamics.logs import Exclusions as _Ex, SellerOrderCheck, StreamPacker
        ex = _Ex()
        packer = StreamPacker(opts, ex, chunk_rows=1_000_000)
        check = SellerOrderCheck() if check_order else None

        def emit(b):
            return pa.RecordBatch.from_pydict(
                {"blob": [pickle.dumps(b, protocol=5)], "n_sellers": [int(b["n_sellers"])],
                 "excl": [None]}, schema=_PACKED_SCHEMA_ARROW())

        def last(ordered):
            starts = None
            if check is not None and check.run_starts:
                first = check.run_starts[0]
                starts = np.concatenate(check.run_starts) if isinstance(first, np.ndarray) \
                    else pa.chunked_array(check.run_starts).to_numpy(zero_copy_only=False)
            info = {"exclusions": ex, "ordered": ordered, "run_starts": starts}
            return pa.RecordBatch.from_pydict({"blob": [None], "n_sellers": [0],
                                               "excl": [pickle.dumps(info, protocol=5)]},
                                              schema=_PACKED_SCHEMA_ARROW())
        for rb in batches:
            if check is not None and not check.feed(rb):
                yield last(False)
                return
            for b in packer.feed(rb):
                yield emit(b)
        for b in packer.finish():
            yield emit(b)
        yield last(True)
    return run


def _PACKED_SCHEMA_ARROW():
    import pyarrow as pa
    return pa.schema([("blob", pa.binary()), ("n_sellers", pa.int64()), ("excl", pa.binary())])


class SparkEngine:
    name = "spark"

    def __init__(self, source: LogSource, spark=None, master: str | None = "local[2]",
                 partitions: int | None = None, task_hook=None, progress: bool = False,
                 conf: dict | None = None):
        """``task_hook``, if given, is called at the start of every likelihood task (on the
        executor): a place to inject faults when testing retries."""
        self.source = source
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
        self._rdd = None
        self._counts: list[int] = []

    @property
    def spark(self):
        if self._spark is None:
            self._spark = spark_session(self.master, conf=self.conf)
        return self._spark

    def _events(self):
        from pyspark.sql import functions as F
        o = self.source.options
        df = self.spark.read.option("mergeSchema", "true").parquet(str(self.source.events))
        cols = ["seller", "time", "recommendation", "feedback"]
        cols += ["action", "own_estimate"] if o.adoption == "continuous" else \
            ["followed"] + (["own_estimate"] if o.has_own_estimate else [])
        if o.fidelity_source == "fidelity":
            cols.append("fidelity")
        else:
            cols.append("truth" if "truth" in df.columns else "outcome")
        sel = [F.col(c) for c in cols]
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
        if self.prepared:
            return self
        started = time.perf_counter()
        schema = "blob binary, n_sellers long, excl binary"
        self.read_in_order = False
        if self.source.sellers_table is None:
            # logs in seller-time order within each input partition, no seller in two
            # partitions: pack as stored, no shuffle. Files up to 1 GiB are read whole
            # (Spark would otherwise split them between tasks at row groups, cutting sellers).
            whole_files = whole_file_conf(self.source.files)
            previous = {k: self.spark.conf.get(k, None) for k in whole_files}
            for k, v in whole_files.items():
                self.spark.conf.set(k, v)
            try:
                packed = self._events().mapInArrow(
                    _pack_partition(self.source.options, check_order=True), schema)
                self.read_in_order = self._collect(packed, check_order=True)
            finally:
                for k, v in previous.items():
                    if v is None:
                        self.spark.conf.unset(k)
                    else:
                        self.spark.conf.set(k, v)
            if not self.read_in_order:
                self._rdd.unpersist()
                self.exclusions = Exclusions()
        events = self._events()
        if not self.read_in_order:
            n = self.partitions or max(2, self.spark.sparkContext.defaultParallelism)
            ordered = events.repartition(n, "seller").sortWithinPartitions("seller", "time")
            self._collect(ordered.mapInArrow(_pack_partition(self.source.options), schema),
                          check_order=False)
        self.prepared = True
        self.prepare_seconds = time.perf_counter() - started
        return self

    def _collect(self, packed, check_order: bool) -> bool:
        """Persist the packed batches (one job packs and caches everything; only counts and
        exclusions reach the driver). With ``check_order``, return whether every partition
        was in order and no seller started a run in two places."""
        from pyspark import StorageLevel
        self._rdd = packed.rdd.map(lambda r: (r["blob"], r["n_sellers"], r["excl"])) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        stats = self._rdd.map(lambda x: (x[0] is not None, x[1], x[2])).collect()
        ordered, starts = True, []
        for has_blob, n_sellers, excl in stats:
            if excl is not None:
                info = pickle.loads(excl)
                self.exclusions.merge(info["exclusions"])
                ordered = ordered and info["ordered"]
                if info["run_starts"] is not None:
                    starts.append(info["run_starts"])
        self._counts = [n for has_blob, n, _ in stats if has_blob]
        if not check_order:
            return True
        if ordered and starts:
            all_starts = np.concatenate(starts)
            ordered = len(set(all_starts.tolist())) == len(all_starts)
        return ordered

    def n_sellers(self) -> int:
        self.prepare()
        return int(sum(self._counts))

    def sample(self, max_sellers: int) -> list[dict]:
        self.prepare()
        k, n = 0, 0
        for c in self._counts:
            k += 1
            n += c
            if n >= max_sellers:
                break
        blobs = self._rdd.filter(lambda x: x[0] is not None).take(k)
        return [pickle.loads(x[0]) for x in blobs]

    def batches(self):
        self.prepare()
        for x in self._rdd.filter(lambda x: x[0] is not None).toLocalIterator():
            yield pickle.loads(x[0])

    def evaluate(self, model, u, hessian: bool = False) -> PassResult:
        self.prepare()
        kind, n_nodes, hook = model.kind, model.n_nodes, self.task_hook
        u = np.asarray(u, float)
        p = len(u)

        def run(it):
            if hook is not None:
                hook()
            from cheaptalk.dynamics.engines import PassResult as _PR, evaluate_batch
            from cheaptalk.dynamics.model import TrustDynamics
            m = TrustDynamics(kind, n_nodes)
            total = _PR(p, hessian)
            for blob, _, _ in it:
                if blob is not None:
                    total += evaluate_batch(m, u, pickle.loads(blob), hessian)
            yield total

        return self._rdd.mapPartitions(run).treeReduce(operator.add)

    def close(self):
        if self._rdd is not None:
            self._rdd.unpersist()
            self._rdd = None
