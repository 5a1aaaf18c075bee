"""`spark-submit` on a real Spark standalone cluster: a master and a worker, each its own JVM,
started with Spark's own launcher; the worker starts executors in their own JVMs, which
start their own Python workers. The submitted fit gives the local engine's estimates."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cheaptalk.dynamics import fit_trust, generate_logs, resolve_logs, SyntheticWorld
from cheaptalk.dynamics.engines.local import LocalEngine

pyspark = pytest.importorskip("pyspark")

SPARK_HOME = Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_env() -> dict:
    from cheaptalk.dynamics.engines.spark import _java_home
    _java_home()
    return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def _start(args: list[str], log: Path, ready: str, env: dict, timeout: float = 90):
    """Start a Spark daemon in the foreground (spark-class execs its JVM) and wait until its
    log says ``ready``."""
    fh = open(log, "wb")
    proc = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args], stdout=fh,
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{args[0]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc, fh


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone cluster on 127.0.0.1: master, and a worker with 2 cores and 2 GB."""
    d = tmp_path_factory.mktemp("spark-cluster")
    env = _spark_env()
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        procs.append(_start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                             "--port", str(port), "--webui-port", str(_free_port())],
                            d / "master.log", "I have been elected leader", env))
        procs.append(_start(["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                             "--cores", "2", "--memory", "2g", "--webui-port", str(_free_port()),
                             "--work-dir", str(d / "work"), url],
                            d / "worker.log", "Successfully registered with master", env))
        yield url, d / "work"
    finally:
        for proc, fh in reversed(procs):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            fh.close()


@pytest.mark.parametrize("order", ["seller order", "shuffled"])
def test_spark_submit_on_a_standalone_cluster_gives_the_local_estimates(standalone_cluster, tmp_path, order):
    """Both ways of reading: files in seller order are read by the tasks themselves;
    shuffled events go through Spark SQL, a shuffle by seller and packed batches persisted
    on the executor."""
    url, work = standalone_cluster
    logs = tmp_path / "logs"
    # synthetic: 600 sellers x 40 events in 3 files
    generate_logs(logs, 600, 40, seed=5, world=SyntheticWorld(), events_per_file=8_000)
    if order == "shuffled":
        for f in (logs / "events").glob("*.parquet"):
            t = pq.read_table(f)
            pq.write_table(t.take(np.random.default_rng(0).permutation(t.num_rows)), f)
    from cheaptalk.dynamics import spark_submit
    out = tmp_path / "fit.json"
    run = subprocess.run(
        [str(SPARK_HOME / "bin" / "spark-submit"), "--master", url, "--executor-memory", "1g",
         "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}",
         # a path relative to where the job is submitted: the executors run elsewhere
         spark_submit.__file__, "--logs", "logs", "--json", str(out), "--quiet"],
        env=_spark_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    submitted = json.loads(out.read_text())
    local = fit_trust(LocalEngine(resolve_logs(logs)))
    assert submitted["engine"] == "spark" and submitted["converged"]
    assert submitted["diagnostics"]["logs_read_in_stored_order"] == (order == "seller order")
    assert submitted["n_events"] == local.n_events == 600 * 40
    # the optimum is defined to within the fit's last step (a hundredth of a standard error)
    for name, p in submitted["params"].items():
        assert abs(p["estimate"] - local.estimates[name]) <= 0.01 * local.se[name], name
        assert p["se"] == pytest.approx(local.se[name], rel=1e-2), name
    # the work ran in an executor that the worker started for this application
    executors = list(work.glob("app-*/*/stderr"))
    assert executors, f"no executor of the application ran on the worker ({sorted(work.glob('*'))})"
    assert any("Finished task" in p.read_text(errors="replace") for p in executors)


def test_submitted_sessions_give_each_python_worker_one_kernel_thread(standalone_cluster, tmp_path):
    """Each Python worker of an executor is one task slot: its kernels use one thread
    (spark.task.cpus), unless the submission sets NUMBA_NUM_THREADS itself."""
    url, _ = standalone_cluster
    script = tmp_path / "threads.py"
    script.write_text(
        "import os, sys\n"
        "from cheaptalk.dynamics.engines.spark import spark_session\n"
        "spark = spark_session(None)\n"
        "seen = spark.sparkContext.parallelize(range(2), 2)"
        ".map(lambda _: os.environ.get('NUMBA_NUM_THREADS')).collect()\n"
        "print('threads', sorted(set(seen)))\n"
        "spark.stop()\n")
    for extra, expected in ([], "['1']"), (["--conf", "spark.executorEnv.NUMBA_NUM_THREADS=2"], "['2']"):
        run = subprocess.run([str(SPARK_HOME / "bin" / "spark-submit"), "--master", url,
                              "--executor-memory", "1g", "--conf", "spark.ui.enabled=false",
                              "--conf", f"spark.pyspark.python={sys.executable}", *extra, str(script)],
                             env=_spark_env(), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-4000:]
        assert f"threads {expected}" in run.stdout, run.stdout
