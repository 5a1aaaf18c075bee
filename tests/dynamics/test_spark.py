"""The Spark engine (local mode): same estimates and exclusions as the local engine, and a
failed task is retried with an unchanged result."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cheaptalk.dynamics import fit_trust, resolve_logs
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.model import TrustDynamics

from .conftest import failing_first_attempt

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def small_logs(tmp_path_factory):
    """300 sellers x 40 synthetic events in 3 files, plus a few broken rows in a 4th file."""
    d = tmp_path_factory.mktemp("spark-logs")
    generate_logs(d, 300, 40, seed=21, world=SyntheticWorld(), events_per_file=4_000)
    extra = pq.read_table(d / "events" / "part-00000.parquet").slice(0, 6).to_pandas()
    extra.loc[0, "recommendation"] = np.nan            # row excluded
    extra.loc[1, "action"] = np.nan                    # decision not used
    extra = pd.concat([extra.iloc[:2], extra.iloc[[2]]])   # row 2 repeats an event: identical duplicate
    extra.loc[:, "time"] = extra["time"].where(extra.index == 2, extra["time"] + 1000)
    pq.write_table(pa.Table.from_pandas(extra, preserve_index=False), d / "events" / "part-extra.parquet")
    return d


def test_spark_matches_local_estimates_and_exclusions(small_logs, spark):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    local = fit_trust(LocalEngine(resolve_logs(small_logs)), warm_start_sellers=100)
    engine = SparkEngine(resolve_logs(small_logs), spark=spark, partitions=3)
    remote = fit_trust(engine, warm_start_sellers=100)
    assert local.converged and remote.converged
    assert remote.n_sellers == local.n_sellers == 300
    assert remote.n_events == local.n_events == 300 * 40 + 1   # the event without a decision counts
    # the optimum is defined to within the fit's last step (a hundredth of a standard error,
    # where the log-likelihood's kinks stop Newton); the engines' sums differ in order
    for name in local.estimates:
        assert abs(remote.estimates[name] - local.estimates[name]) <= 0.01 * local.se[name], name
        assert remote.se[name] == pytest.approx(local.se[name], rel=1e-2), name
    assert remote.loglik == pytest.approx(local.loglik, abs=1e-3)
    assert remote.exclusions["counts"] == local.exclusions["counts"]
    assert local.exclusions["counts"]["recommendation_missing"] == 1
    assert local.exclusions["counts"]["decision_missing"] == 1
    assert local.exclusions["counts"]["duplicate_identical"] == 1
    assert not engine.read_in_order     # the extra file holds events of sellers seen before
    engine.close()


def test_logs_in_seller_order_are_read_as_stored(ordered_logs, spark):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    tmp_path = ordered_logs
    model = TrustDynamics("continuous")
    u = np.array([-1.5, -0.6, 0.0, 1.8, 1.6])
    local = LocalEngine(resolve_logs(tmp_path))
    engine = SparkEngine(resolve_logs(tmp_path), spark=spark)
    a, b = local.evaluate(model, u, hessian=True), engine.evaluate(model, u, hessian=True)
    assert engine.read_in_order and local.read_in_order
    assert b.n_sellers == a.n_sellers == 200 and b.n_events == a.n_events == 6000
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
    np.testing.assert_allclose(b.hessian, a.hessian, rtol=1e-10)
    engine.close()
    local.close()


def test_binary_adoption_gives_the_same_pass_on_both_engines(tmp_path, spark):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    generate_logs(tmp_path, 150, 30, seed=9, world=SyntheticWorld(adoption="binary"), events_per_file=1_500)
    model = TrustDynamics("binary")
    u = np.array([-1.2, -0.4, 0.1, 1.5, 0.8])
    local = LocalEngine(resolve_logs(tmp_path))
    engine = SparkEngine(resolve_logs(tmp_path), spark=spark)
    a, b = local.evaluate(model, u, hessian=True), engine.evaluate(model, u, hessian=True)
    assert local.source.options.adoption == engine.source.options.adoption == "binary"
    assert b.n_sellers == a.n_sellers == 150 and b.n_decisions == a.n_decisions == 4500
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
    np.testing.assert_allclose(b.score, a.score, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.hessian, a.hessian, rtol=1e-10)
    engine.close()
    local.close()


@pytest.mark.parametrize("logs", ["ordered_logs", "small_logs"])     # read as stored; shuffled
def test_seller_sample_is_the_same_on_both_engines(logs, request, spark):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    d = request.getfixturevalue(logs)
    # (seed 6 keeps seller 0, whose extra events, in a later file, put small_logs out of order)
    u = np.array([-1.5, -0.6, 0.0, 1.8, 1.6])
    local = LocalEngine(resolve_logs(d, seller_fraction=0.3, sample_seed=6))
    engine = SparkEngine(resolve_logs(d, seller_fraction=0.3, sample_seed=6), spark=spark)
    a, b = local.evaluate(TrustDynamics("continuous"), u), engine.evaluate(TrustDynamics("continuous"), u)
    assert engine.read_in_order == local.read_in_order == (logs == "ordered_logs")
    n_all = 200 if logs == "ordered_logs" else 300
    assert 0.15 * n_all < b.n_sellers == a.n_sellers < 0.45 * n_all and b.n_events == a.n_events
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
    assert engine.exclusions.outside_sample == local.exclusions.outside_sample > 0
    assert engine.exclusions.counts == local.exclusions.counts
    engine.close()
    local.close()


@pytest.fixture(scope="module")
def ordered_logs(tmp_path_factory):
    """200 sellers x 30 synthetic events in seller-time order, 3 files (read as stored)."""
    d = tmp_path_factory.mktemp("spark-ordered")
    generate_logs(d, 200, 30, seed=5, world=SyntheticWorld(), events_per_file=2_000)
    return d


@pytest.mark.parametrize("which", ["shuffled", "as_stored"])
def test_failed_task_is_retried_and_result_unchanged(which, small_logs, ordered_logs, spark, tmp_path):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    logs = small_logs if which == "shuffled" else ordered_logs
    n_sellers = 300 if which == "shuffled" else 200
    fail_first_attempt = failing_first_attempt(str(tmp_path))

    model = TrustDynamics("continuous")
    u = np.array([-1.5, -0.6, 0.0, 1.8, 1.6])
    clean = SparkEngine(resolve_logs(logs), spark=spark, partitions=3)
    faulty = SparkEngine(resolve_logs(logs), spark=spark, partitions=3,
                         task_hook=fail_first_attempt)
    a = clean.evaluate(model, u)
    b = faulty.evaluate(model, u)
    assert faulty.read_in_order == (which == "as_stored")
    assert list(tmp_path.glob("failed-stage-*")), "no task failed: the injection did not run"
    assert b.n_sellers == a.n_sellers == n_sellers
    assert b.loglik == pytest.approx(a.loglik, rel=1e-13)
    np.testing.assert_allclose(b.score, a.score, rtol=1e-10)
    np.testing.assert_allclose(b.meat, a.meat, rtol=1e-10)
    clean.close()
    faulty.close()


def test_worker_cache_keeps_packed_files_within_budget(ordered_logs):
    """The per-worker cache of packed files: a hit returns the same batches, a rewritten
    file is read again, and the least recently used file leaves when the budget is spent."""
    import os

    from cheaptalk.dynamics.engines import spark as S
    from cheaptalk.dynamics.logs import direct_read_plan
    source = resolve_logs(ordered_logs)
    plan, opts = direct_read_plan(source), source.options
    paths = [str(f) for f in source.files]
    S._WORKER_CACHE.clear()
    S._WORKER_CACHE_BYTES[0] = 0
    first = S._packed_file(plan, opts, paths[0], 1e9)
    assert S._packed_file(plan, opts, paths[0], 1e9) is first
    size = S._batches_nbytes(first)
    # a budget for about two files: the third evicts the least recently used
    budget = 2.5 * size
    S._packed_file(plan, opts, paths[1], budget)
    S._packed_file(plan, opts, paths[0], budget)          # paths[0] is now the most recent
    S._packed_file(plan, opts, paths[2], budget)
    cached = {k[0] for k in S._WORKER_CACHE}
    assert cached == {paths[0], paths[2]} and S._WORKER_CACHE_BYTES[0] <= budget
    # a file written again (new modification time) is not served from the cache
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    again = S._packed_file(plan, opts, paths[0], budget)
    assert again is not first
    for a, b in zip(again, first):
        np.testing.assert_array_equal(a["act"], b["act"])
    # with no budget nothing is kept
    S._WORKER_CACHE.clear()
    S._WORKER_CACHE_BYTES[0] = 0
    assert sum(int(b["n_sellers"]) for b in S._packed_file(plan, opts, paths[1], 0)) > 0
    assert not S._WORKER_CACHE


def test_workers_of_an_executor_share_packed_files(ordered_logs, tmp_path, monkeypatch):
    """A file packed by one Python worker is stored in the executor's local directory and
    mapped, not packed again, by another worker of that executor (Spark gives a file's task
    to whichever worker is idle); the mapped batches equal the packed ones and are
    writable and aligned, as the compiled kernels take them."""
    from cheaptalk.dynamics.engines import spark as S
    from cheaptalk.dynamics.logs import direct_read_plan
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(tmp_path / "blockmgr-a") + "," + str(tmp_path / "b"))
    source = resolve_logs(ordered_logs)
    plan, opts = direct_read_plan(source), source.options
    path = str(source.files[0])
    S._WORKER_CACHE.clear()
    S._WORKER_CACHE_BYTES[0] = 0
    packed = S._packed_file(plan, opts, path, 1e9)
    stored = list((tmp_path / "blockmgr-a" / "cheaptalk-packed").iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".bin"

    S._WORKER_CACHE.clear()                  # another worker: nothing in its memory
    S._WORKER_CACHE_BYTES[0] = 0
    monkeypatch.setattr(S, "_pack_file", lambda *a, **k: pytest.fail("packed again"))
    mapped = S._packed_file(plan, opts, path, 1e9)
    assert len(mapped) == len(packed) > 0
    for a, b in zip(mapped, packed):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(a[key], value, err_msg=key)
                assert a[key].dtype == value.dtype
                if value.dtype != object:
                    assert a[key].flags.writeable and a[key].flags.aligned, key
            else:
                assert a[key] == value
    model = TrustDynamics("continuous")
    u = np.array([-1.0, -0.5, 0.0, 1.5, 1.6])
    from cheaptalk.dynamics.engines import evaluate_batch
    assert evaluate_batch(model, u, mapped[0], True).loglik == evaluate_batch(model, u, packed[0], True).loglik


def test_files_are_grouped_into_balanced_tasks(tmp_path):
    """Files read as stored are grouped into tasks of about equal size: every file once,
    each group in file order, no more groups than asked (nor than files)."""
    from cheaptalk.dynamics.engines.spark import _file_groups
    sizes = [50, 10, 10, 30, 20, 20, 10]
    files = []
    for i, n in enumerate(sizes):
        f = tmp_path / f"part-{i}.parquet"
        f.write_bytes(b"x" * n)
        files.append(f)
    groups = _file_groups(files, 3)
    assert sorted(p for g in groups for p in g) == sorted(str(f) for f in files)
    assert all(g == sorted(g) for g in groups) and len(groups) == 3
    load = sorted(sum(sizes[[str(f) for f in files].index(p)] for p in g) for g in groups)
    assert load == [50, 50, 50]
    assert len(_file_groups(files[:2], 8)) == 2 and _file_groups(files, 1) == [[str(f) for f in files]]
