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
    for x, y in zip(a.batches(), b.batches()):
        for k in ("gap", "act", "fidelity", "feedback", "time"):
            np.testing.assert_array_equal(x[k], y[k])


def test_unknown_sellers_in_the_join_are_counted(tmp_path):
    d = _write(_events(), tmp_path / "logs" / "events")
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
    df.loc[4, "recommendation"] = np.nan
    d = _write(df, tmp_path / "logs")
    rc = main(["trust", "fit", "--logs", str(d), "--fidelity-scale", "30", "--strict", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "recommendation missing" in err and "part-0.parquet row 4" in err and "'recommendation'" in err


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
