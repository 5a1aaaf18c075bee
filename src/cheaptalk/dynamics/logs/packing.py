"""Packing events into per-seller batches: cleaning each event, ordering checks, padding
to (sellers x events) arrays that the likelihood passes read."""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .exclusions import Exclusions
from .schema import MAX_BATCH_SELLERS, MAX_MAGNITUDE, PackOptions, _seller_kind



def _float(col) -> np.ndarray:
    """Arrow column -> float64 numpy with NaN for nulls."""
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    col = pc.cast(col, pa.float64(), safe=False)
    return pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False)


def _time_as_number(col):
    """Timestamps and dates as integer microseconds; other columns unchanged."""
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        return pc.cast(pc.cast(col, pa.timestamp("us")), pa.int64())
    return col


def _time(col) -> np.ndarray:
    return _float(_time_as_number(col))


def _bucket(n: int, minimum: int = 16) -> int:
    """Round up to a quarter-octave step: few distinct shapes (each is compiled once)."""
    if n <= minimum:
        return minimum
    p = 1 << (int(n).bit_length() - 1)
    step = max(p // 4, 1)
    return -(-n // step) * step


def _cap(cells: int, t_pad: int) -> int:
    """Largest power of two of sellers with ``sellers * t_pad <= cells`` (at least 1)."""
    return min(MAX_BATCH_SELLERS, 1 << max((max(cells // t_pad, 1)).bit_length() - 1, 0))


def _pow2_ceil(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def pack_sorted(table: pa.Table, opts: PackOptions, exclusions: Exclusions) -> list[dict]:
    """Validate and pack events of whole sellers, sorted by (seller, time), into batches.

    Each batch is a dict of numpy arrays: per seller ``seller``, ``length``, ``segment``,
    ``mean_fidelity``; per (seller, event) padded to a common length ``gap``
    (``m - own``; continuous), ``act`` (``a - own`` or 0/1), ``fidelity``, ``feedback``,
    ``observed`` and, with ``opts.event_values``, ``time``, ``recommendation``, ``own`` and
    ``truth`` (NaN when fidelity is given directly). Padded sellers have length 0.
    """
    n = table.num_rows
    if n == 0:
        return []
    clean = _clean_chunk(table, opts)
    if clean is not None:
        return _batch_sellers(opts, *clean)
    seller_col = table.column("seller").combine_chunks()
    seller = seller_col.to_numpy(zero_copy_only=False)
    time = _time(table.column("time"))
    rec = _float(table.column("recommendation"))
    keep = np.ones(n, bool)

    bad = seller_col.is_null().to_numpy(zero_copy_only=False)
    if _seller_kind(seller_col.type) == "text":
        # an empty id is no seller (else every row without one would make one seller)
        bad |= pc.equal(pc.utf8_trim_whitespace(seller_col.cast(pa.string())), "").fill_null(False).to_numpy(
            zero_copy_only=False)
    exclusions.add("seller_missing", "seller", bad, seller, time)
    keep &= ~bad
    if "_known" in table.column_names:
        unknown = keep & ~_float(table.column("_known")).astype(bool)
        exclusions.add("unknown_seller", "seller", unknown, seller, time)
        keep &= ~unknown
    bad = keep & ~np.isfinite(time)
    exclusions.add("time_missing", "time", bad, seller, time)
    keep &= ~bad
    bad = keep & ~(np.abs(rec) <= MAX_MAGNITUDE)
    exclusions.add("recommendation_missing", "recommendation", bad, seller, time)
    keep &= ~bad

    if opts.adoption == "continuous":
        action, own = _float(table.column("action")), _float(table.column("own_estimate"))
        observed = (np.abs(action) <= MAX_MAGNITUDE) & (np.abs(own) <= MAX_MAGNITUDE)
        act = np.where(observed, action - own, 0.0)
        gap = np.where(observed, rec - own, 0.0)
    else:
        own = _float(table.column("own_estimate")) if "own_estimate" in table.column_names \
            else np.full(n, np.nan)
        followed = _float(table.column("followed"))
        observed = (followed == 0) | (followed == 1)
        act = np.where(observed, followed, 0.0)
        gap = np.zeros(n)
    truth = np.full(n, np.nan)
    if opts.fidelity_source == "fidelity":
        fid = _float(table.column("fidelity"))
    else:
        truth_name = "truth" if "truth" in table.column_names else "outcome"
        truth = _float(table.column(truth_name))
        fid = 1.0 - np.minimum(1.0, np.abs(rec - truth) / opts.fidelity_scale)
    fid_ok = np.isfinite(fid) & (fid >= 0) & (fid <= 1)
    fb = _float(table.column("feedback"))
    fb_ok = (fb == 0) | (fb == 1)
    feedback = fb_ok & (fb == 1) & fid_ok

    # duplicates: rows of one seller at the same time (rows are sorted by seller, time)
    if n > 1:
        same_seller = np.r_[False, pc.equal(seller_col.slice(1), seller_col.slice(0, n - 1))
                            .fill_null(False).to_numpy(zero_copy_only=False)]
        dup = same_seller & np.r_[False, time[1:] == time[:-1]] & keep & np.r_[False, keep[:-1]]
        if dup.any():
            values = np.stack([rec, act, gap, np.where(np.isfinite(fid), fid, -1.0), fb], axis=1)
            values = np.where(np.isfinite(values), values, -np.inf)
            identical = dup & np.r_[False, (values[1:] == values[:-1]).all(axis=1)]
            group = np.cumsum(~dup)                    # same (seller, time) -> same group id
            conflict_group = np.zeros(group[-1] + 1, bool)
            conflict_group[group[dup & ~identical]] = True
            conflicting = conflict_group[group] & keep
            exclusions.add("duplicate_identical", "time", identical & ~conflicting, seller, time)
            exclusions.add("duplicate_conflicting", "time", conflicting, seller, time)
            keep &= ~(identical | conflicting)

    exclusions.add("decision_missing", "action" if opts.adoption == "continuous" else "followed",
                   keep & ~observed, seller, time)
    exclusions.add("feedback_missing", "feedback", keep & ~fb_ok, seller, time)
    exclusions.add("fidelity_unknown", opts.fidelity_source, keep & fb_ok & (fb == 1) & ~fid_ok,
                   seller, time)

    all_kept = bool(keep.all())     # the common case: no row excluded, no copies needed
    idx = np.arange(n) if all_kept else np.flatnonzero(keep)
    if idx.size == 0:
        return []

    def kept(a):
        return a if all_kept else a[idx]

    k_seller = kept(seller)
    # seller boundaries among kept rows
    kept_col = seller_col if all_kept else seller_col.take(_indices(idx))
    if pa.types.is_integer(kept_col.type) and not kept_col.null_count:
        new_seller = k_seller[1:] != k_seller[:-1]
    else:
        new_seller = ~pc.equal(kept_col.slice(1), kept_col.slice(0, idx.size - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, new_seller])
    lengths = np.diff(np.r_[starts, idx.size])
    if opts.has_segment and "segment" in table.column_names:
        # one label per seller (its first kept event's)
        segment = _labels_at(table.column("segment"), idx[starts])
    else:
        segment = None
    cols = {"gap": kept(gap), "act": kept(act), "fidelity": kept(np.where(fid_ok, fid, 0.0)),
            "feedback": kept(feedback), "observed": kept(observed)}
    if opts.event_values:
        cols.update(time=kept(time), recommendation=kept(rec), own=kept(own), truth=kept(truth))
    fid_known = kept(fid_ok)
    sums = np.add.reduceat(np.where(fid_known, cols["fidelity"], 0.0), starts)
    counts = np.add.reduceat(fid_known.astype(float), starts)
    mean_fid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    return _batch_sellers(opts, cols, k_seller, starts, lengths, segment, mean_fid)


def _labels_at(column, rows) -> np.ndarray:
    """The ``segment`` labels at ``rows`` as an object array of str (None where missing);
    dictionary-encoded labels are decoded here, for these rows only (Arrow's ``to_numpy``
    of a dictionary array does not keep its nulls)."""
    taken = column.take(_indices(rows))
    if pa.types.is_dictionary(taken.type):
        taken = pc.cast(taken, taken.type.value_type)
    # (through Python objects: Arrow's to_numpy of text would import pandas; one label a seller)
    out = np.empty(len(taken), object)
    out[:] = taken.to_pylist()
    return out


def _batch_sellers(opts, cols, k_seller, starts, lengths, segment, mean_fid) -> list[dict]:
    """Group the sellers of a chunk into padded batches of similar lengths, each within
    the cell budget."""
    order = np.argsort(lengths, kind="stable")
    batches = []
    i = 0
    n_sellers = len(starts)
    while i < n_sellers:
        # the batch's padded length is set by its longest (last) seller; the number of
        # sellers is a power of two within the cell budget, so shapes repeat across batches
        cap = _cap(opts.batch_cells, _bucket(int(lengths[order[i]])))
        j = min(n_sellers, i + cap)
        t_pad = _bucket(int(lengths[order[j - 1]]))
        cap = _cap(opts.batch_cells, t_pad)
        j = min(j, i + cap)
        t_pad = _bucket(int(lengths[order[j - 1]]))
        if lengths[order[i]] == lengths[order[j - 1]] and j - i == cap:
            # a full batch of equally long sellers needs no padding (few such shapes)
            t_pad = max(int(lengths[order[i]]), 1)
        sel = order[i:j]
        b_pad = min(_pow2_ceil(len(sel)), cap)
        batches.append(_make_batch(sel, starts, lengths, cols, k_seller, segment, mean_fid,
                                   b_pad, t_pad))
        i = j
    return batches


def _one_chunk(col):
    """A chunked column as one array; without a copy when it has one chunk (Arrow's
    ``combine_chunks`` copies even then)."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


_NUMPY_DTYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
                 pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32,
                 pa.uint64(): np.uint64, pa.float32(): np.float32, pa.float64(): np.float64}


def _as_numpy(col) -> np.ndarray:
    """Arrow column -> numpy; numbers without nulls as a read-only view of Arrow's buffer.
    (Arrow's own conversion makes the same view, but first imports pandas when it is
    installed: 0.35 s of every new process, and of every Spark worker.)"""
    col = _one_chunk(col)
    dtype = _NUMPY_DTYPES.get(col.type)
    if dtype is None or col.null_count:
        return col.to_numpy(zero_copy_only=False)
    if len(col) == 0:
        return np.empty(0, dtype)
    return np.frombuffer(col.buffers()[1], dtype, len(col), col.offset * np.dtype(dtype).itemsize)


_ARROW_TYPES = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}


def _arrow_view(values: np.ndarray) -> pa.Array:
    """A numpy array of numbers as an Arrow array over the same memory (``pa.array`` would
    first import pandas, to check whether ``values`` is a pandas object)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(_ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def _indices(rows) -> pa.Array:
    """Row numbers as an Arrow int64 array (for ``take``)."""
    return _arrow_view(np.asarray(rows, np.int64))


def _text(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array, built from its buffers (``pa.array`` would
    import pandas)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    offsets[1:] = np.cumsum([len(d) for d in data])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(b"".join(data))])


def _plain(col):
    """Arrow column -> numpy without a copy, or None if it has nulls or is not numeric."""
    if col.null_count:
        return None
    col = _time_as_number(_one_chunk(col))
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return None
    return _as_numpy(col)


def _clean_chunk(table: pa.Table, opts: PackOptions):
    """The common case in one compiled pass: a chunk in which every row is usable as it
    is (nothing to exclude or count). Returns the packed columns and the seller runs, or
    None when any row needs the general path (which counts and reports it)."""
    if "_known" in table.column_names or not pa.types.is_integer(table.column("seller").type):
        return None
    continuous = opts.adoption == "continuous"
    names = ["seller", "time", "recommendation", "feedback"]
    names += ["action", "own_estimate"] if continuous else ["followed"]
    if opts.fidelity_source == "fidelity":
        names.append("fidelity")
    else:
        names.append("truth" if "truth" in table.column_names else "outcome")
    arrays = {}
    for name in names:
        a = _plain(table.column(name))
        if a is None:
            return None
        arrays[name] = a
    n = table.num_rows
    if continuous:
        own = arrays["own_estimate"]
    elif "own_estimate" in table.column_names:
        own = _plain(table.column("own_estimate"))
        if own is None:
            return None
    else:
        own = np.full(n, np.nan, np.float32)
    accuracy = arrays[names[-1]]
    values = n if opts.event_values else 0      # (empty arrays: not kept)
    out = {"gap": np.empty(n, np.float32), "act": np.empty(n, np.float32),
           "fidelity": np.empty(n, np.float32), "feedback": np.empty(n, bool),
           "observed": np.ones(n, bool), "time": np.empty(values),
           "recommendation": np.empty(values, np.float32), "own": np.empty(values, np.float32),
           "truth": np.empty(values, np.float32)}
    starts = np.empty(n, np.int64)
    mean_fid = np.empty(n)
    n_sellers = _clean_pass(arrays["seller"], arrays["time"], arrays["recommendation"],
                            arrays["action" if continuous else "followed"], own, accuracy,
                            arrays["feedback"], continuous, opts.fidelity_source != "fidelity",
                            float(opts.fidelity_scale or 1.0), opts.event_values, out["time"],
                            out["gap"], out["act"], out["fidelity"], out["recommendation"],
                            out["own"], out["truth"], out["feedback"], starts, mean_fid)
    if n_sellers < 0:
        return None
    if not opts.event_values:
        for name in ("time", "recommendation", "own", "truth"):
            del out[name]
    starts, mean_fid = starts[:n_sellers], mean_fid[:n_sellers]
    lengths = np.diff(np.r_[starts, n])
    segment = None
    if opts.has_segment and "segment" in table.column_names:
        segment = _labels_at(table.column("segment"), starts)
    return out, arrays["seller"], starts, lengths, segment, mean_fid


@numba.njit(cache=True, nogil=True)
def _clean_pass(seller, time, rec, decision, own, accuracy, feedback, continuous, from_truth, scale,
                keep_values, out_time, out_gap, out_act, out_fid, out_rec, out_own, out_truth,
                out_feedback, starts, mean_fid):
    """Fill the packed columns of a chunk sorted by (seller, time); return the number of
    sellers (their first rows in ``starts``, mean known fidelity in ``mean_fid``), or -1 at
    the first row that the general path must handle (a value to exclude, a duplicate).
    ``out_time``, ``out_rec``, ``out_own`` and ``out_truth`` are filled if ``keep_values``."""
    n = seller.shape[0]
    last_time = 0.0
    k = -1
    fid_sum = 0.0
    fid_count = 0
    for i in range(n):
        t = np.float64(time[i])
        r = np.float64(rec[i])
        fb = feedback[i]
        if not (np.isfinite(t) and abs(r) <= MAX_MAGNITUDE) or (fb != 0 and fb != 1):
            return -1
        new = i == 0 or seller[i] != seller[i - 1]
        if not new and t == last_time:
            return -1
        last_time = t
        o = np.float64(own[i])
        d = np.float64(decision[i])
        if continuous:
            if not (abs(d) <= MAX_MAGNITUDE and abs(o) <= MAX_MAGNITUDE):
                return -1
            out_gap[i] = r - o
            out_act[i] = d - o
        else:
            if d != 0.0 and d != 1.0:
                return -1
            out_gap[i] = 0.0
            out_act[i] = d
        if from_truth:
            truth = np.float64(accuracy[i])
            f = 1.0 - min(1.0, abs(r - truth) / scale)
        else:
            truth = np.nan
            f = np.float64(accuracy[i])
        known = np.isfinite(f) and f >= 0.0 and f <= 1.0
        if fb == 1 and not known:
            return -1
        if new:
            if k >= 0:
                mean_fid[k] = fid_sum / fid_count if fid_count > 0 else np.nan
            k += 1
            starts[k] = i
            fid_sum = 0.0
            fid_count = 0
        if known:
            fid_sum += f
            fid_count += 1
        out_fid[i] = f if known else 0.0
        out_feedback[i] = fb == 1
        if keep_values:
            out_time[i] = t
            out_rec[i] = r
            out_own[i] = o
            out_truth[i] = truth
    if k >= 0:
        mean_fid[k] = fid_sum / fid_count if fid_count > 0 else np.nan
    return k + 1


_EVENT_DTYPES = {"time": np.float64, "gap": np.float32, "act": np.float32, "fidelity": np.float32,
                 "recommendation": np.float32, "own": np.float32, "truth": np.float32,
                 "feedback": bool, "observed": bool}


def _make_batch(sel, starts, lengths, cols, k_seller, segment, mean_fid, b_pad, t_pad):
    nb = len(sel)
    lens = lengths[sel]
    # sellers stored one after the other with one common length: a reshape, no gather
    contiguous = nb > 0 and np.all(lens == lens[0]) and np.all(np.diff(starts[sel]) == lens[0])
    if not contiguous:
        rows = _ranges(starts[sel], lens)
        r = np.repeat(np.arange(nb), lens)
        c = rows - np.repeat(starts[sel], lens)
    out = {}
    for name, dtype in _EVENT_DTYPES.items():
        if name not in cols:
            continue
        if contiguous:
            first = starts[sel[0]]
            block = cols[name][first:first + nb * lens[0]].reshape(nb, lens[0])
            if block.dtype == dtype and block.shape == (b_pad, t_pad):
                out[name] = block          # a view of the chunk's column: no copy
                continue
            a = np.zeros((b_pad, t_pad), dtype)
            a[:nb, :lens[0]] = block
        else:
            a = np.zeros((b_pad, t_pad), dtype)
            a[r, c] = cols[name][rows]
        out[name] = a
    seller = np.empty(b_pad, dtype=k_seller.dtype)
    seller[:nb] = k_seller[starts[sel]]
    if b_pad > nb:
        seller[nb:] = seller[0]
    out["seller"] = seller
    length = np.zeros(b_pad, np.int32)
    length[:nb] = lens
    out["length"] = length
    out["n_sellers"] = nb
    mf = np.full(b_pad, np.nan)
    mf[:nb] = mean_fid[sel]
    out["mean_fidelity"] = mf
    if segment is not None:
        seg = np.empty(b_pad, dtype=object)
        seg[:nb] = segment[sel]
        out["segment"] = seg
    return out


def _ranges(starts, lengths):
    """Concatenation of arange(s, s + l) for each pair, vectorized."""
    total = int(lengths.sum())
    offs = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return np.arange(total) + offs


class SellerOrderCheck:
    """Checks, batch by batch, that a stream of events is in seller-time order: every
    seller's events contiguous and their times non-decreasing, no seller or time missing
    (missing values go through the sorted path, where their exclusion is well defined)."""

    def __init__(self):
        self.last_seller = None
        self.last_time = None
        self.run_starts: list = []

    def feed(self, rb: pa.RecordBatch) -> bool:
        n = rb.num_rows
        if n == 0:
            return True
        seller, time_col = rb.column("seller"), rb.column("time")
        if seller.null_count or time_col.null_count:
            return False
        t = _plain(time_col)       # no copy for plain numbers (timestamps as integers)
        if t is None:
            t = _time(time_col)
        if t.dtype.kind == "f" and np.isnan(t).any():
            return False
        if pa.types.is_integer(seller.type):
            s = _as_numpy(seller)
            new_run = np.empty(n, bool)
            new_run[1:] = s[1:] != s[:-1]
        else:
            s = seller
            new_run = np.r_[False, pc.not_equal(seller.slice(1), seller.slice(0, n - 1))
                            .to_numpy(zero_copy_only=False)]
        first = s[0].as_py() if isinstance(s, pa.Array) else s[0].item()
        new_run[0] = first != self.last_seller
        if not new_run[0] and t[0] < self.last_time:
            return False
        if np.any((t[1:] < t[:-1]) & ~new_run[1:]):
            return False
        starts = np.flatnonzero(new_run)
        if starts.size:
            self.run_starts.append(s.take(_indices(starts)) if isinstance(s, pa.Array) else s[starts])
        last = s[n - 1]
        self.last_seller = last.as_py() if isinstance(s, pa.Array) else last.item()
        self.last_time = t[-1]
        return True

    def run_start_values(self) -> np.ndarray | None:
        """The seller of every run, in stream order (None for an empty stream)."""
        if not self.run_starts:
            return None
        if isinstance(self.run_starts[0], np.ndarray):
            return np.concatenate(self.run_starts)
        return np.concatenate([_as_numpy(c) for c in self.run_starts])

    def finish(self) -> bool:
        """True if no seller appeared in two separate runs."""
        if not self.run_starts:
            return True
        if isinstance(self.run_starts[0], np.ndarray):
            starts = self.run_start_values()
            return np.unique(starts).size == starts.size
        starts = pa.chunked_array(self.run_starts)
        return pc.count_distinct(starts).as_py() == len(starts)


class StreamPacker:
    """Packs a stream of Arrow record batches sorted by (seller, time) into seller batches.

    A seller's events may be split across record batches: the trailing seller of each
    chunk is held back (``carry``) and packed on its own once the next record batch shows
    where it ends, so every packed batch has whole sellers and large record batches are
    packed without being copied. Small record batches are gathered up to ``chunk_rows``
    first. Memory is bounded by ``chunk_rows`` (or one record batch) plus one seller's events.
    """

    def __init__(self, opts: PackOptions, exclusions: Exclusions, chunk_rows: int = 2_000_000):
        self.opts, self.exclusions, self.chunk_rows = opts, exclusions, chunk_rows
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.carry: list[pa.RecordBatch] = []    # the trailing seller of the last chunk
        self.carry_seller = None
        self.rows_read = 0

    def feed(self, rb: pa.RecordBatch):
        """Add a record batch; yield packed batches when enough whole sellers are pending."""
        if rb.num_rows == 0:
            return
        self.rows_read += rb.num_rows
        if self.carry:
            k = _leading_run(rb.column("seller"), self.carry_seller)
            if k == rb.num_rows:
                self.carry.append(rb)
                return
            yield from self._pack(self.carry + [rb.slice(0, k)])
            self.carry = []
            rb = rb.slice(k)
        self.pending.append(rb)
        self.pending_rows += rb.num_rows
        if self.pending_rows < self.chunk_rows:
            return
        table = pa.Table.from_batches(self.pending)
        self.pending, self.pending_rows = [], 0
        last = table.column("seller")[-1]
        cut = table.num_rows - _leading_run(table.column("seller"), last, from_end=True)
        self.carry = table.slice(cut).to_batches()
        self.carry_seller = last
        if cut:
            yield from self._pack(table.slice(0, cut).to_batches())

    def _pack(self, batches):
        table = pa.Table.from_batches(batches)
        return pack_sorted(table.combine_chunks() if len(batches) > 1 else table,
                           self.opts, self.exclusions)

    def finish(self):
        rest = self.carry + self.pending
        self.carry, self.pending, self.pending_rows = [], [], 0
        if rest:
            yield from self._pack(rest)


def _leading_run(seller, value, from_end: bool = False) -> int:
    """Number of leading (or, ``from_end``, trailing) entries of ``seller`` equal to
    ``value`` (nulls equal to null)."""
    if isinstance(value, pa.Scalar):
        value = value.as_py()
    if isinstance(seller, pa.ChunkedArray):
        seller = _one_chunk(seller) if seller.num_chunks else pa.array([], seller.type)
    if value is None:
        same = seller.is_null().to_numpy(zero_copy_only=False)
    elif pa.types.is_integer(seller.type) and not seller.null_count:
        same = _as_numpy(seller) == value
    else:
        same = pc.equal(seller, pa.scalar(value, seller.type)).fill_null(False).to_numpy(zero_copy_only=False)
    if from_end:
        same = same[::-1]
    k = int(np.argmin(same)) if same.size else 0
    return same.size if same.size and same[k] else k


def _per_seller(batch: dict, value) -> bool:
    """Whether ``value`` of ``batch`` holds one row per seller (padding included)."""
    return isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == batch["length"].shape[0]


def take_sellers(batch: dict, keep: np.ndarray) -> dict | None:
    """The sellers of ``batch`` where ``keep`` (a boolean array over its ``n_sellers``
    sellers) is true, as a packed batch of their own; ``None`` when none is kept."""
    nb = int(batch["n_sellers"])
    rows = np.flatnonzero(np.asarray(keep, bool)[:nb])
    if rows.size == 0:
        return None
    out = {key: value[rows] if _per_seller(batch, value) else value for key, value in batch.items()}
    out["n_sellers"] = int(rows.size)
    return out
