"""Packed batches in files that are mapped back without copies.

The format is pickle protocol 5 with the numpy arrays out of band, each at an offset
aligned to 64 bytes: an int64 count ``n``, then ``n`` (offset, length) int64 pairs (the
pickle stream first, then the arrays), then the data. Reading maps the file with private
copy-on-write pages, so the arrays are writable and aligned, as the compiled kernels take
them, and nothing is copied until (unless) it is written. The local engine spills the
batches beyond its memory budget in this format, and Spark's workers share packed files
through the executor's local directory in it.
"""

from __future__ import annotations

import mmap
import os
import pickle
from pathlib import Path

import numpy as np

__all__ = ["write_packed", "read_packed"]

_ALIGN = 64


def write_packed(path: Path, batches):
    """Write packed batches (a batch, or a list of them) for :func:`read_packed`. Written
    under a temporary name and renamed, so a reader never sees half a file; on an error
    (a full disk) the temporary file is removed and the error raised."""
    buffers = []
    header = pickle.dumps(batches, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    index = np.zeros((len(raws) + 1, 2), np.int64)        # (offset, length): header, buffers
    offset = -(-(8 + index.nbytes) // _ALIGN) * _ALIGN
    for i, data in enumerate([header] + raws):
        index[i] = offset, len(data)
        offset = -(-(offset + len(data)) // _ALIGN) * _ALIGN
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(np.int64(len(raws) + 1).tobytes())
            fh.write(index.tobytes())
            for (start, _), data in zip(index, [header] + raws):
                fh.seek(int(start))
                fh.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_packed(path: Path):
    """The batches :func:`write_packed` wrote, their arrays mapped from the file (private
    copy-on-write pages: writable, no copy)."""
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    n = int(np.frombuffer(view[:8], np.int64)[0])
    index = np.frombuffer(view[8:8 + 16 * n], np.int64).reshape(n, 2)
    parts = [view[int(o):int(o) + int(ln)] for o, ln in index]
    return pickle.loads(parts[0], buffers=parts[1:])
