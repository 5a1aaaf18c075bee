"""Malformed logs: clear errors naming file and column, or counted exclusions."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cheaptalk.cli.main import main
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.logs import Exclusions, LogSchemaError, PackOptions, pack_sorted, resolve_logs


def _events(n_sellers=6, T=8, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(100, 20, (n_sellers, T))
    rec = truth + rng.normal(0, 8, (n_sellers, T))
    own = truth + rng.normal(0, 12, (n_sellers, T))
    return pd.DataFrame({
        "seller": np.repeat(np.arange(n_sellers), T), "time": np.tile(np.arange(T), n_sellers),
        "recommendation": rec.ravel(), "action": (0.5 * rec + 0.5 * own).ravel(),
        "own_estimate": own.ravel(), "truth": truth.ravel(),
        "feedback": rng.integers(0, 2, n_sellers * T)})


def _write(df, d, name="part-0.parquet"):
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), d / name)
    return d


def test_missing_column_names_file_and_column(tmp_path):
    d = _write(_events(), tmp_path / "logs")
    _write(_events().drop(columns=["feedback"]), d, "part-1.parquet")
    with pytest.raises(LogSchemaError, match=r"part-1\.parquet: missing column 'feedback'"):
        resolve_logs(d, fidelity_scale=30)


def test_wrong_type_and_missing_accuracy_are_errors(tmp_path):
    df = _events()
    df["recommendation"] = df["recommendation"].astype(str)
    d = _write(df, tmp_path / "a")
    with pytest.raises(LogSchemaError, match=r"part-0\.parquet: column 'recommendation' has type"):
        resolve_logs(d, fidelity_scale=30)
    d = _write(_events().drop(columns=["truth"]), tmp_path / "b")
    with pytest.raises(LogSchemaError, match="'fidelity' or 'truth'"):
        resolve_logs(d)
    d = _write(_events(), tmp_path / "c")
    with pytest.raises(LogSchemaError, match="fidelity-scale"):
        resolve_logs(d)   # truth given but no scale to turn it into fidelity


def test_bad_rows_are_counted_by_reason(tmp_path):
    df = _events()
    df.loc[3, "recommendation"] = np.nan                 # row excluded
    df.loc[5, "action"] = np.nan                         # decision not used, still updates
    df.loc[9, "feedback"] = 7                            # feedback not used
    df.loc[10, "truth"] = np.nan                         # fidelity unknown (if feedback)
    df.loc[10, "feedback"] = 1
    dup = df.iloc[[12]].copy()                           # identical duplicate
    conflict = df.iloc[[20]].copy()
    conflict["action"] += 5.0                            # same seller/time, different content
    bad = pd.concat([df, dup, conflict]).sample(frac=1.0, random_state=1)   # files out of order
    d = _write(bad, tmp_path / "logs")
    engine = LocalEngine(resolve_logs(d, fidelity_scale=30)).prepare()
    c = engine.exclusions.counts
    assert c["recommendation_missing"] == 1
    assert c["decision_missing"] == 1
    assert c["feedback_missing"] == 1
    assert c["fidelity_unknown"] == 1
    assert c["duplicate_identical"] == 1
    assert c["duplicate_conflicting"] == 2
    assert engine.exclusions.rows_excluded == 4
    # every remaining event is accounted for: 48 rows + 2 extra - 4 excluded
    assert sum(int(b["length"].sum()) for b in engine.batches()) == 46
    # examples carry the file and the row number within it
    ex = engine.exclusions.examples[0]
    assert ex["file"].endswith("part-0.parquet") and isinstance(ex["row"], int)


def test_shuffled_files_pack_like_sorted_ones(tmp_path):
    df = _events(seed=3)
    a = LocalEngine(resolve_logs(_write(df, tmp_path / "a"), fidelity_scale=30)).prepare()
    b = LocalEngine(resolve_logs(_write(df.sample(frac=1.0, random_state=2), tmp_path / "b"),
                                 fidelity_scale=30)).prepare()
    for x, y in zip(a.batches(event_values=True), b.batches(event_values=True)):
        for k in ("gap", "act", "fidelity", "feedback", "time"):
            np.testing.assert_array_equal(x[k], y[k])


def test_unknown_sellers_in_the_join_are_counted(tmp_path):
    _write(_events(), tmp_path / "logs" / "events")
    pq.write_table(pa.table({"seller": [0, 1, 2, 3], "segment": ["a", "a", "b", "b"]}),
                   tmp_path / "logs" / "sellers.parquet")
    source = resolve_logs(tmp_path / "logs", fidelity_scale=30)
    assert source.sellers_table is not None
    engine = LocalEngine(source).prepare()
    assert engine.exclusions.counts["unknown_seller"] == 2 * 8      # sellers 4 and 5
    batches = list(engine.batches())
    assert sorted(set(np.concatenate([b["segment"][:b["n_sellers"]] for b in batches]))) == ["a", "b"]


def test_duplicate_sellers_in_the_seller_table_are_an_error(tmp_path):
    _write(_events(), tmp_path / "logs" / "events")
    pq.write_table(pa.table({"seller": [0, 1, 1]}), tmp_path / "logs" / "sellers.parquet")
    with pytest.raises(LogSchemaError, match=r"sellers\.parquet: seller 1 appears 2 times"):
        resolve_logs(tmp_path / "logs", fidelity_scale=30)


def test_seller_split_across_record_batches_stays_whole():
    df = _events(n_sellers=3, T=50)
    table = pa.Table.from_pandas(df, preserve_index=False)
    from cheaptalk.dynamics.logs import StreamPacker
    ex = Exclusions()
    packer = StreamPacker(PackOptions("continuous", "truth", 30.0), ex, chunk_rows=20)
    out = []
    for rb in table.to_batches(max_chunksize=17):
        out.extend(packer.feed(rb))
    out.extend(packer.finish())
    lengths = np.concatenate([b["length"][:b["n_sellers"]] for b in out])
    assert sorted(lengths.tolist()) == [50, 50, 50]


def test_cli_strict_mode_fails_with_file_row_and_column(tmp_path, capsys):
    df = _events()
    df.loc[4, "recommendation"] = np.nan        # the 5th data row
    d = _write(df, tmp_path / "logs")
    rc = main(["trust", "fit", "--logs", str(d), "--fidelity-scale", "30", "--strict", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "recommendation missing" in err and "part-0.parquet row 5" in err and "'recommendation'" in err


def test_no_usable_events_is_a_clear_error(tmp_path):
    df = _events()
    df["recommendation"] = np.nan
    d = _write(df, tmp_path / "logs")
    from cheaptalk.dynamics import fit_trust
    with pytest.raises(ValueError, match="no usable events"):
        fit_trust(LocalEngine(resolve_logs(d, fidelity_scale=30)))


def test_spilled_cache_gives_the_same_pass_as_memory(continuous_logs):
    """Beyond --cache-mb the packed batches go to local files; a pass must not change."""
    from cheaptalk.dynamics.model import TrustDynamics
    logs, _ = continuous_logs
    memory = LocalEngine(resolve_logs(logs)).prepare()
    spilled = LocalEngine(resolve_logs(logs), cache_mb=0.5).prepare()
    assert memory.n_batches == spilled.n_batches and len(spilled._files) >= 1
    model = TrustDynamics("continuous")
    u = np.array([-1.7, -0.6, 0.0, 1.8, 1.6])
    a, b = memory.evaluate(model, u), spilled.evaluate(model, u)
    assert a.loglik == b.loglik and a.n_events == b.n_events == 60_000
    np.testing.assert_array_equal(a.score, b.score)
    spilled.close()


def _pass_totals(engine):
    from cheaptalk.dynamics.engines import evaluate_batch
    from cheaptalk.dynamics.model import TrustDynamics, to_unconstrained
    u = to_unconstrained({"eta_up": 0.2, "eta_down": 0.4, "initial_trust_mean": 0.5,
                          "initial_trust_concentration": 4.0, "sd_action": 8.0}, "continuous")
    total = None
    for b in engine.batches():
        r = evaluate_batch(TrustDynamics("continuous"), u, b, hessian=True)
        total = r if total is None else total + r
    return total


@pytest.mark.parametrize("disorder", ["rows shuffled", "seller split across files", "time reversed"])
def test_logs_out_of_seller_order_are_sorted_first_with_the_same_result(tmp_path, disorder):
    """Logs in seller-time order are packed as read; any other order goes through the sort,
    and both give the same sellers, exclusions and likelihood."""
    df = _events(n_sellers=30, T=12, seed=4)
    df.loc[7, "feedback"] = 5                                    # one counted exclusion
    ordered = LocalEngine(resolve_logs(_write(df, tmp_path / "ordered"), fidelity_scale=30)).prepare()
    assert ordered.read_in_order
    d = tmp_path / "disordered"
    if disorder == "rows shuffled":
        _write(df.sample(frac=1.0, random_state=3), d)
    elif disorder == "seller split across files":
        _write(df.iloc[:100], d, "part-0.parquet")
        _write(pd.concat([df.iloc[100:200], df.iloc[[5]].assign(time=50)]), d, "part-1.parquet")
        _write(df.iloc[200:], d, "part-2.parquet")
    else:
        _write(df.iloc[::-1], d)
    other = LocalEngine(resolve_logs(d, fidelity_scale=30)).prepare()
    assert not other.read_in_order
    extra = 1 if disorder == "seller split across files" else 0
    assert other.n_sellers() == ordered.n_sellers() == 30
    assert other.exclusions.counts == ordered.exclusions.counts
    a, b = _pass_totals(ordered), _pass_totals(other)
    assert b.n_events == a.n_events + extra
    if not extra:
        assert b.loglik == pytest.approx(a.loglik, rel=1e-12)
        np.testing.assert_allclose(b.hessian, a.hessian, rtol=1e-10)


def test_order_check_with_text_seller_ids(tmp_path):
    df = _events(n_sellers=12, T=6, seed=2)
    df["seller"] = "s" + df["seller"].astype(str).str.zfill(3)
    assert LocalEngine(resolve_logs(_write(df, tmp_path / "a"), fidelity_scale=30)).prepare().read_in_order
    moved = pd.concat([df.iloc[6:], df.iloc[:6]])           # still contiguous per seller
    assert LocalEngine(resolve_logs(_write(moved, tmp_path / "b"), fidelity_scale=30)).prepare().read_in_order
    split = pd.concat([df.iloc[3:], df.iloc[:3]])           # seller s000 in two places
    e = LocalEngine(resolve_logs(_write(split, tmp_path / "c"), fidelity_scale=30)).prepare()
    assert not e.read_in_order and e.n_sellers() == 12


@pytest.mark.parametrize("variant", ["continuous", "binary", "fidelity column", "segments", "for a fit"])
def test_compiled_packing_of_clean_chunks_equals_the_general_path(variant, monkeypatch):
    """Chunks with nothing to exclude take one compiled pass; it must pack exactly what
    the general (counting) path packs, with all columns or only those a fit reads."""
    from cheaptalk.dynamics import logs
    df = _events(n_sellers=40, T=9, seed=6)
    df = df[~((df["seller"] == 3) & (df["time"] > 4))]            # ragged lengths
    opts = PackOptions("continuous", "truth", 30.0)
    if variant == "binary":
        df = df.drop(columns=["action"]).assign(followed=(df["action"] > df["own_estimate"]).astype("int8"))
        opts = PackOptions("binary", "truth", 30.0, has_own_estimate=True)
    elif variant == "fidelity column":
        df = df.drop(columns=["truth"]).assign(fidelity=np.linspace(0, 1, len(df)))
        opts = PackOptions("continuous", "fidelity")
    elif variant == "segments":
        df["segment"] = np.where(df["seller"] % 3 == 0, "high", "low")
        opts = PackOptions("continuous", "truth", 30.0, has_segment=True)
    elif variant == "for a fit":
        opts = PackOptions("continuous", "truth", 30.0).for_fit()
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert logs._clean_chunk(table, opts) is not None
    fast = pack_sorted(table, opts, Exclusions())
    monkeypatch.setattr(logs, "_clean_chunk", lambda *a: None)
    general = pack_sorted(table, opts, Exclusions())
    assert len(fast) == len(general) > 0
    event_values = {"time", "recommendation", "own", "truth"}
    assert event_values <= fast[0].keys() if opts.event_values else not event_values & fast[0].keys()
    for a, b in zip(fast, general):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], np.ndarray):
                assert a[key].dtype == b[key].dtype, key
                if key == "mean_fidelity":     # a sum in another order: equal to rounding
                    np.testing.assert_allclose(a[key], b[key], rtol=1e-14)
                else:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            else:
                assert a[key] == b[key], key


def test_a_chunk_with_anything_to_exclude_takes_the_counting_path():
    from cheaptalk.dynamics import logs
    df = _events()
    df.loc[4, "feedback"] = 3
    opts = PackOptions("continuous", "truth", 30.0)
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert logs._clean_chunk(table, opts) is None
    ex = Exclusions()
    pack_sorted(table, opts, ex)
    assert ex.counts["feedback_missing"] == 1


def test_segment_from_hive_directories_is_read_as_stored(tmp_path):
    """Logs partitioned in segment=... directories (the label only in the path) are read
    straight from the files, with each seller's segment taken from its directory, and give
    the same fit inputs as one file holding the column."""
    df = _events(n_sellers=20, T=6, seed=8)
    labelled = df.assign(segment=np.where(df["seller"] < 10, "a", "b"))
    one = LocalEngine(resolve_logs(_write(labelled, tmp_path / "one"), fidelity_scale=30)).prepare()
    d = tmp_path / "hive"
    _write(df[df["seller"] < 10], d / "segment=a")
    _write(df[df["seller"] >= 10], d / "segment=b")
    hive = LocalEngine(resolve_logs(d, fidelity_scale=30)).prepare()
    assert hive.read_in_order and one.read_in_order

    def segments(engine):
        out = {}
        for b in engine.batches():
            nb = int(b["n_sellers"])
            out.update(zip(b["seller"][:nb].tolist(), list(b["segment"][:nb])))
        return out
    assert segments(hive) == segments(one) == {s: "a" if s < 10 else "b" for s in range(20)}
    a, b = _pass_totals(one), _pass_totals(hive)
    assert b.n_events == a.n_events == 120
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)


def test_segment_labels_stored_as_text_dictionary_or_numbers(tmp_path):
    """Each seller's label is its first event's, whether the files store the segment as
    dictionary-encoded text (one file) or plain text (the other), and numeric labels
    are read as text."""
    df = _events(n_sellers=12, T=5, seed=3)
    labels = np.where(df["seller"] % 3 == 0, "north", np.where(df["seller"] % 3 == 1, "south", None))
    d = tmp_path / "logs"
    d.mkdir()
    first, second = df["seller"] < 6, df["seller"] >= 6
    t1 = pa.Table.from_pandas(df[first], preserve_index=False).append_column(
        "segment", pa.array(labels[first.to_numpy()]).dictionary_encode())
    t2 = pa.Table.from_pandas(df[second], preserve_index=False).append_column(
        "segment", pa.array(labels[second.to_numpy()], pa.string()))
    pq.write_table(t1, d / "part-0.parquet")
    pq.write_table(t2, d / "part-1.parquet")
    engine = LocalEngine(resolve_logs(d, fidelity_scale=30)).prepare()
    assert engine.read_in_order
    got = {}
    for b in engine.batches():
        nb = int(b["n_sellers"])
        got.update(zip(b["seller"][:nb].tolist(), list(b["segment"][:nb])))
    assert got == {s: ["north", "south", None][s % 3] for s in range(12)}

    numeric = _events(n_sellers=4, T=3, seed=4).assign(segment=lambda x: x["seller"] % 2 + 7)
    engine = LocalEngine(resolve_logs(_write(numeric, tmp_path / "numeric"), fidelity_scale=30)).prepare()
    got = {}
    for b in engine.batches():
        nb = int(b["n_sellers"])
        got.update(zip(b["seller"][:nb].tolist(), list(b["segment"][:nb])))
    assert got == {0: "7", 1: "8", 2: "7", 3: "8"}


def _sellers(engine):
    return sorted(s for b in engine.batches(event_values=True) for s in b["seller"][b["length"] > 0].tolist())


def test_seller_sample_keeps_whole_sellers_the_same_in_any_order(tmp_path):
    df = _events(n_sellers=400, T=5, seed=4)
    a = LocalEngine(resolve_logs(_write(df, tmp_path / "a"), fidelity_scale=30,
                                 seller_fraction=0.25, sample_seed=1)).prepare()
    b = LocalEngine(resolve_logs(_write(df.sample(frac=1.0, random_state=2), tmp_path / "b"),
                                 fidelity_scale=30, seller_fraction=0.25, sample_seed=1)).prepare()
    assert a.read_in_order and not b.read_in_order      # Arrow as stored; DuckDB's sorted stream
    kept = _sellers(a)
    assert kept == _sellers(b)
    assert 60 < len(kept) < 140                          # Binomial(400, 0.25): mean 100, sd 8.7
    # every kept seller has all of its events; the rest are counted, not excluded
    assert sum(int(x["length"].sum()) for x in a.batches()) == 5 * len(kept)
    assert a.exclusions.outside_sample == b.exclusions.outside_sample == len(df) - 5 * len(kept)
    assert a.exclusions.rows_excluded == 0               # the sample is not an exclusion
    # another seed draws other sellers; fraction 1 keeps them all
    c = LocalEngine(resolve_logs(tmp_path / "a", fidelity_scale=30, seller_fraction=0.25, sample_seed=2))
    assert _sellers(c) != kept
    assert len(_sellers(LocalEngine(resolve_logs(tmp_path / "a", fidelity_scale=30)))) == 400


def test_seller_hash_depends_on_the_id_only():
    from cheaptalk.dynamics.logs import seller_hashes, seller_sample_mask
    ids = np.arange(-50, 5000)
    h = seller_hashes(pa.array(ids))
    np.testing.assert_array_equal(seller_hashes(pa.array(ids.astype(np.int32))), h)   # any width
    np.testing.assert_array_equal(seller_hashes(pa.chunked_array([ids[:10], ids[10:]])), h)
    text = pa.array([f"s{i}" for i in ids])
    np.testing.assert_array_equal(seller_hashes(text.dictionary_encode()), seller_hashes(text))
    np.testing.assert_array_equal(seller_hashes(text.slice(3)), seller_hashes(text)[3:])
    assert len(np.unique(h)) == len(ids)
    for f in (0.05, 0.5):
        assert seller_sample_mask(pa.array(ids), f).mean() == pytest.approx(f, abs=0.02)
        assert seller_sample_mask(text, f).mean() == pytest.approx(f, abs=0.02)
    assert seller_sample_mask(pa.array(ids), 1.0).all()
    # rows without a seller stay, to be counted as exclusions like any unusable row
    assert seller_sample_mask(pa.array([None] * 50, pa.int64()), 1e-9).all()


def test_cli_seller_fraction(tmp_path, capsys):
    d = _write(_events(n_sellers=300, T=6, seed=5), tmp_path / "logs")
    with pytest.raises(SystemExit):
        main(["trust", "fit", "--logs", str(d), "--seller-fraction", "0", "--quiet"])
    assert "(0, 1]" in capsys.readouterr().err
    out = tmp_path / "fit.json"
    assert main(["trust", "fit", "--logs", str(d), "--fidelity-scale", "30", "--seller-fraction", "0.5",
                 "--json", str(out), "--quiet"]) == 0
    fit = json.loads(out.read_text())
    assert fit["seller_sample"]["fraction"] == 0.5
    assert fit["n_events"] + fit["seller_sample"]["rows_of_other_sellers"] == 300 * 6
    assert 100 < fit["n_subjects"] < 200
    assert "a random sample of sellers" in capsys.readouterr().out


def test_reading_packing_and_fitting_do_not_import_pandas(tmp_path):
    """pandas costs a new process 0.35 s, on Spark's critical path in every Python worker;
    Arrow imports it at the first conversion of Python or numpy values (``pa.array``,
    ``pa.scalar``, ``to_numpy`` of text), so the reading and packing path avoids those."""
    import subprocess
    import sys
    from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
    generate_logs(tmp_path / "logs", 300, 20, seed=3, world=SyntheticWorld(), events_per_file=2_000)
    code = (
        "import os, sys\n"
        "from cheaptalk.dynamics.logs import resolve_logs, direct_read_plan\n"
        "from cheaptalk.dynamics.engines.local import LocalEngine\n"
        "from cheaptalk.dynamics.engines.spark import _file_summary, _packed_file\n"
        "from cheaptalk.dynamics.estimate import fit_trust\n"
        f"logs = {str(tmp_path / 'logs')!r}\n"
        "fit = fit_trust(LocalEngine(resolve_logs(logs, seller_fraction=0.5)), warm_start_sellers=50)\n"
        f"os.environ['SPARK_LOCAL_DIRS'] = {str(tmp_path / 'local')!r}\n"
        "src = resolve_logs(logs)\n"
        "plan, opts = direct_read_plan(src), src.options.for_fit()\n"
        "first = _file_summary(plan, opts, 2**30)(str(src.files[0]))\n"
        "again = _packed_file(plan, opts, str(src.files[1]), 2**30)\n"
        "print(fit.converged, first['ordered'], len(again) > 0, 'segment' in src.column_names(),\n"
        "      'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "True", "True", "False"], out.stdout
