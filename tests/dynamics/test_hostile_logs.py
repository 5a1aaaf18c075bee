"""Broken trust logs and arguments: no fit claims convergence without a finite likelihood,
and every refusal is one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def cli(*args):
    return subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "trust", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    run = cli("generate", "--sellers", "200", "--events-per-seller", "20", "--seed", "1", "--out", str(root / "ok"),
              "--quiet")
    assert run.returncode == 0, run.stderr
    events = pd.read_parquet(next((root / "ok" / "events").glob("*.parquet")))

    def variant(name, change):
        frame = events.copy()
        change(frame)
        (root / name).mkdir()
        frame.to_parquet(root / name / "p.parquet")
        return root / name
    return {"ok": root / "ok" / "events",
            "huge": variant("huge", lambda f: f.__setitem__("action", np.where(np.arange(len(f)) < 10, 1e300,
                                                                                f["action"]))),
            "no_actions": variant("no_actions", lambda f: f.__setitem__("action", np.nan)),
            "no_recommendations": variant("no_recommendations", lambda f: f.__setitem__("recommendation", np.nan))}


def test_extreme_actions_are_excluded_and_counted_and_the_fit_is_finite(logs, tmp_path):
    out = tmp_path / "fit.json"
    run = cli("fit", "--logs", str(logs["huge"]), "--fidelity-scale", "50", "--json", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    fit = json.loads(out.read_text())
    assert np.isfinite(fit["loglik"]) and fit["converged"]
    assert fit["n_obs"] == 4000 - 10
    assert "beyond 1e12" in json.dumps(fit)


def test_logs_without_a_usable_decision_are_refused_not_fitted(logs):
    run = cli("fit", "--logs", str(logs["no_actions"]), "--fidelity-scale", "50", "--quiet")
    assert run.returncode == 2 and "no usable decision in the logs" in run.stderr
    assert "converged" not in run.stdout and "Traceback" not in run.stderr


def test_whatif_refuses_logs_with_nothing_to_replay(logs, tmp_path):
    out = tmp_path / "fit.json"
    assert cli("fit", "--logs", str(logs["ok"]), "--fidelity-scale", "50", "--json", str(out), "--quiet").returncode == 0
    run = cli("whatif", "--logs", str(logs["no_recommendations"]), "--fit", str(out), "--fidelity-scale", "50")
    assert run.returncode == 2 and "no usable event" in run.stderr


@pytest.mark.parametrize("args, message", [
    (["--feedback-rate", "2,-1"], "--feedback-rate: 2 is outside [0, 1]"),
    (["--error-scale", ""], "--error-scale needs at least one value"),
    (["--error-scale", "1,x"], "'x' is not a number"),
])
def test_whatif_arguments_are_checked(logs, tmp_path, args, message):
    out = tmp_path / "fit.json"
    assert cli("fit", "--logs", str(logs["ok"]), "--fidelity-scale", "50", "--json", str(out), "--quiet").returncode == 0
    run = cli("whatif", "--logs", str(logs["ok"]), "--fit", str(out), "--fidelity-scale", "50", *args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("args, message", [
    (["--eta-up", "2"], "--eta-up must be in [0, 1]"),
    (["--eta-down", "-1"], "--eta-down must be in [0, 1]"),
    (["--feedback-rate", "1.5"], "--feedback-rate must be in [0, 1]"),
])
def test_generate_arguments_are_checked(tmp_path, args, message):
    run = cli("generate", "--sellers", "5", "--events-per-seller", "5", "--out", str(tmp_path / "g"), *args)
    assert run.returncode == 2 and message in run.stderr


def test_generate_refuses_a_file_as_its_folder(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("{}")
    run = cli("generate", "--sellers", "5", "--events-per-seller", "5", "--out", str(target))
    assert run.returncode == 2 and "is a file" in run.stderr and "Traceback" not in run.stderr


def _variant_dir(tmp_path, name, frames):
    folder = tmp_path / name
    folder.mkdir()
    for i, frame in enumerate(frames):
        frame.to_parquet(folder / f"part-{i}.parquet")
    return folder


@pytest.fixture(scope="module")
def events(logs):
    return pd.read_parquet(next(logs["ok"].glob("*.parquet")))


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_both_engines_refuse_seller_ids_of_two_types_naming_both_files(events, tmp_path, engine):
    text = events[events["seller"] >= 100].assign(seller=lambda f: f["seller"].astype(str))
    folder = _variant_dir(tmp_path, "mixed", [events[events["seller"] < 100], text])
    run = cli("fit", "--logs", str(folder), "--fidelity-scale", "50", "--engine", engine, "--quiet")
    assert run.returncode == 2 and "part-1.parquet: column 'seller' holds text ids" in run.stderr
    assert "part-0.parquet holds integer ids" in run.stderr


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_empty_seller_ids_are_excluded_the_same_way_on_both_engines(events, tmp_path, engine):
    frame = events.assign(seller=events["seller"].astype(str))
    frame.loc[:19, "seller"] = ""
    out = tmp_path / "fit.json"
    run = cli("fit", "--logs", str(_variant_dir(tmp_path, "empty", [frame])), "--fidelity-scale", "50",
              "--engine", engine, "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    fit = json.loads(out.read_text())
    assert fit["n_subjects"] == 199 and fit["n_obs"] == 3980


def test_float_seller_ids_and_huge_integer_times_are_refused(events, tmp_path):
    floats = _variant_dir(tmp_path, "floats", [events.assign(seller=events["seller"].astype(float))])
    run = cli("fit", "--logs", str(floats), "--fidelity-scale", "50", "--quiet")
    assert run.returncode == 2 and "seller ids must be integers or text" in run.stderr
    late = _variant_dir(tmp_path, "late", [events.assign(time=events["time"].astype("int64") + 2 ** 62)])
    run = cli("fit", "--logs", str(late), "--fidelity-scale", "50", "--quiet")
    assert run.returncode == 2 and "beyond 2^53" in run.stderr


def test_quadrature_nodes_are_bounded(logs):
    run = cli("fit", "--logs", str(logs["ok"]), "--fidelity-scale", "50", "--nodes", "100000")
    assert run.returncode == 2 and "--nodes must be from 2 to 640" in run.stderr


@pytest.mark.parametrize("engine", ["local", "spark"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_exclusion_examples_name_file_and_row_on_both_engines(events, tmp_path, engine, shuffled):
    frame = events.copy()
    frame.loc[5, "recommendation"] = np.nan
    if shuffled:                 # out of seller order: read through DuckDB's or Spark's sort
        frame = frame.sample(frac=1, random_state=1)
    folder = _variant_dir(tmp_path, "one", [frame])
    row = int(np.flatnonzero(frame.index.to_numpy() == 5)[0]) + 1      # data rows counted from 1
    run = cli("fit", "--logs", str(folder), "--fidelity-scale", "50", "--strict", "--engine", engine, "--quiet")
    assert run.returncode == 2
    assert f"first: {folder / 'part-0.parquet'} row {row}, column 'recommendation'" in run.stderr


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_null_sellers_and_missing_times_are_located_in_their_file_and_row(events, tmp_path, engine):
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(events.assign(seller=events["seller"].astype(str)), preserve_index=False)
    seller = table.column("seller").to_pylist()
    time = table.column("time").to_numpy().astype(float)
    seller[7] = None
    time[11] = np.nan                   # a NaN stored as NaN, not as null
    table = table.set_column(table.schema.get_field_index("seller"), "seller", pa.array(seller))
    table = table.set_column(table.schema.get_field_index("time"), "time", pa.array(time, from_pandas=False))
    folder = tmp_path / "holes"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    out = tmp_path / "fit.json"
    run = cli("fit", "--logs", str(folder), "--fidelity-scale", "50", "--engine", engine, "--quiet", "--json", str(out))
    assert run.returncode == 0, run.stderr
    examples = {e["reason"]: e for e in json.loads(out.read_text())["exclusions"]["examples"]}
    assert (examples["seller_missing"]["row"], examples["time_missing"]["row"]) == (8, 12)
    assert {e["file"] for e in examples.values()} == {str(folder / "part-0.parquet")}


@pytest.mark.parametrize("content, message", [(b"", "not a readable Parquet file (0 bytes)"),
                                              (bytes(range(256)) * 20, "not a readable Parquet file")])
def test_corrupt_or_empty_parquet_files_are_named(logs, tmp_path, content, message):
    import shutil
    folder = tmp_path / "logs"
    shutil.copytree(logs["ok"], folder)
    (folder / "broken.parquet").write_bytes(content)
    run = cli("fit", "--logs", str(folder), "--fidelity-scale", "50", "--quiet")
    assert run.returncode == 2 and f"{folder / 'broken.parquet'}: {message}" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_files_storing_times_as_integers_and_as_floats_are_read_as_one(events, tmp_path, engine):
    fits = []
    for name, late in (("same", events["time"]), ("mixed", events["time"].astype(float))):
        folder = _variant_dir(tmp_path, name, [events[events["seller"] < 100],
                                                events[events["seller"] >= 100].assign(time=late)])
        out = tmp_path / f"{name}.json"
        run = cli("fit", "--logs", str(folder), "--fidelity-scale", "50", "--engine", engine, "--quiet",
                  "--json", str(out), "--nodes", "20")
        assert run.returncode == 0, run.stderr
        fits.append(json.loads(out.read_text())["loglik"])
    assert fits[0] == pytest.approx(fits[1], abs=1e-9)
    stamps = _variant_dir(tmp_path, "stamps", [events[events["seller"] < 100],
                                               events[events["seller"] >= 100].assign(
                                                   time=pd.to_datetime(events["time"], unit="s"))])
    run = cli("fit", "--logs", str(stamps), "--fidelity-scale", "50", "--quiet")
    assert run.returncode == 2 and "part-1.parquet: column 'time' has type timestamp" in run.stderr, run.stderr
