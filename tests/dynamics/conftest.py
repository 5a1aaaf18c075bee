"""Shared fixtures: small synthetic logs (labelled synthetic) and one Spark session."""

import os

import pytest

from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs


@pytest.fixture(scope="session")
def continuous_logs(tmp_path_factory):
    """Synthetic logs: 1500 sellers x 40 events, continuous adoption, known truth."""
    out = tmp_path_factory.mktemp("continuous")
    truth = generate_logs(out, 1500, 40, seed=11, world=SyntheticWorld(), events_per_file=20_000)
    return out, truth


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the module: 2 threads, a failed task is retried once
    (local[2,2]: maxFailures = 2), no UI, bound to 127.0.0.1."""
    pytest.importorskip("pyspark")
    from cheaptalk.dynamics.engines.spark import spark_session
    session = spark_session("local[2,2]", app_name="cheaptalk-tests",
                            conf={"spark.ui.showConsoleProgress": "false"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    os.environ.pop("SPARK_LOCAL_IP", None)


@pytest.fixture(scope="session")
def local_fit(continuous_logs):
    """The local engine's fit of the continuous logs (shared by several tests)."""
    from cheaptalk.dynamics import fit_trust, resolve_logs
    from cheaptalk.dynamics.engines.local import LocalEngine
    engine = LocalEngine(resolve_logs(continuous_logs[0]))
    fit = fit_trust(engine, warm_start_sellers=400)
    yield engine, fit
    engine.close()


def failing_first_attempt(marker_dir: str):
    """A Spark task hook: partition 0 fails on its first attempt of every stage (leaving a
    marker file in ``marker_dir``), so that a test sees Spark retry it."""
    def hook():
        # runs on the executor
        from pathlib import Path

        from pyspark import TaskContext
        ctx = TaskContext.get()
        if ctx.partitionId() == 0 and ctx.attemptNumber() == 0:
            Path(marker_dir, f"failed-stage-{ctx.stageId()}").touch()
            raise RuntimeError("injected task failure")

    return hook
