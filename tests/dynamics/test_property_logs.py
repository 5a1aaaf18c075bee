"""Property-based test (Hypothesis) of reading trust logs: random malformed event files are
either refused with a schema error naming the file, or packed so that every row is counted:
rows packed + rows excluded = rows read."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cheaptalk.dynamics.engines import get_engine
from cheaptalk.dynamics.logs import LogSchemaError, resolve_logs
from cheaptalk.errors import CheaptalkError

NUMBER = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 30),
                   st.sampled_from([1e300, -1e13, 0.5]))
ROW = st.tuples(st.one_of(st.none(), st.integers(0, 4)), st.one_of(st.none(), st.integers(0, 6)),
                NUMBER, NUMBER, NUMBER, NUMBER, st.one_of(st.none(), st.sampled_from([0, 1, 2])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=30), st.booleans())
def test_every_log_row_is_packed_or_counted(rows, text_ids):
    seller, time, rec, action, own, truth, feedback = (list(c) for c in zip(*rows))
    seller_type = pa.string() if text_ids else pa.int64()
    if text_ids:
        seller = [None if s is None else ("" if s == 0 else f"s{s}") for s in seller]
    table = pa.table({"seller": pa.array(seller, seller_type), "time": pa.array(time, pa.int64()),
                      "recommendation": pa.array(rec, pa.float64()), "action": pa.array(action, pa.float64()),
                      "own_estimate": pa.array(own, pa.float64()), "truth": pa.array(truth, pa.float64()),
                      "feedback": pa.array(feedback, pa.int8())})
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(table, Path(tmp) / "events.parquet")
        try:
            engine = get_engine("local", resolve_logs(tmp, None, 50.0, None), progress=False)
            engine.prepare()
        except LogSchemaError as exc:
            assert tmp in str(exc)
            return
        except CheaptalkError:
            return
        packed = sum(int(np.sum(b["length"][: b["n_sellers"]])) for b in engine.batches())
        ex = engine.exclusions.to_dict()
        engine.close()
    assert packed + ex["rows_excluded"] == len(rows)
