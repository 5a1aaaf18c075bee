"""A random sample of sellers, the same whatever the engine and the order of the logs: a
seller is kept when a 64-bit hash of its id and the seed falls below fraction x 2^64."""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .exclusions import Exclusions
from .packing import _one_chunk
from .schema import PackOptions


_GOLDEN = 0x9E3779B97F4A7C15


@numba.njit(cache=True, nogil=True)
def _mix64(z):
    """SplitMix64's finalizer: a bijection of uint64 whose output bits look independent."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _int_seller_hashes(values, salt, out):
    for i in range(values.shape[0]):
        out[i] = _mix64(values[i] ^ salt)


@numba.njit(cache=True, nogil=True)
def _str_seller_hashes(offsets, data, salt, out):
    # FNV-1a over the UTF-8 bytes, then mixed with the salt
    for i in range(offsets.shape[0] - 1):
        h = np.uint64(0xCBF29CE484222325)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(0x100000001B3)
        out[i] = _mix64(h ^ salt)


def seller_hashes(seller, seed: int = 0) -> np.ndarray:
    """A 64-bit hash of every seller id (uint64; any value for a null), stable across processes,
    machines and engines: integer ids of any width are hashed by value (SplitMix64), text
    ids by their UTF-8 bytes (FNV-1a, then SplitMix64); other types as their text."""
    seller = _one_chunk(seller)
    if pa.types.is_dictionary(seller.type):
        seller = pc.cast(seller, seller.type.value_type)
    salt = np.uint64(_mix64(np.uint64((int(seed) + _GOLDEN) % (1 << 64))))
    out = np.zeros(len(seller), np.uint64)
    if pa.types.is_integer(seller.type):
        values = seller if seller.type == pa.int64() else pc.cast(seller, pa.int64())
        if len(values):
            # the values buffer as it is: a null's slot hashes to anything (nulls are kept)
            raw = np.frombuffer(values.buffers()[1], np.uint64, len(values), values.offset * 8)
            _int_seller_hashes(raw, salt, out)
    else:
        text = pc.cast(seller, pa.large_string())
        _, offsets, data = text.buffers()
        offsets = np.frombuffer(offsets, np.int64)[text.offset:text.offset + len(text) + 1]
        data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        _str_seller_hashes(offsets, data, salt, out)
    return out


def seller_sample_mask(seller, fraction: float, seed: int = 0) -> np.ndarray:
    """Which rows belong to the sample of sellers: ``hash(seller, seed) < fraction * 2^64``.

    Each seller is in the sample with probability ``fraction``, independently of the others,
    with all its events; the same sellers are drawn by every engine, whatever the order or
    the partitioning of the logs. Rows without a seller are kept, so that they are counted
    as exclusions like any other unusable row."""
    seller = _one_chunk(seller)
    keep = seller_hashes(seller, seed) < np.uint64(min(int(fraction * 2.0 ** 64), (1 << 64) - 1))
    if seller.null_count:
        keep |= seller.is_null().to_numpy(zero_copy_only=False)
    return keep


def _in_seller_sample(rb: pa.RecordBatch, opts: PackOptions, exclusions: Exclusions) -> pa.RecordBatch:
    keep = seller_sample_mask(rb.column("seller"), opts.seller_fraction, opts.sample_seed)
    n_keep = int(np.count_nonzero(keep))
    exclusions.outside_sample += rb.num_rows - n_keep
    if n_keep == rb.num_rows:
        return rb
    bits = pa.py_buffer(np.packbits(keep, bitorder="little"))    # (pa.array would import pandas)
    return rb.filter(pa.Array.from_buffers(pa.bool_(), rb.num_rows, [None, bits]))
