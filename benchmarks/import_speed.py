"""Import speed: a CSV export of N rows (synthetic, in the layout of the lying-game data)
converted to the long format with a column map, against the baseline of pandas reading the
same file as text (the floor: every import reads the file).

    python benchmarks/import_speed.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cheaptalk.data.importing import import_table, load_map, read_source
from cheaptalk.datasets.public import get_dataset


def synthetic_export(path: Path, rows: int, seed: int = 0) -> None:
    """Rows in the columns of bsfinal_anon.csv that its map reads (synthetic values)."""
    rng = np.random.default_rng(seed)
    n_subjects = max(1, rows // 100)
    frame = pd.DataFrame({
        "subjID": [f"subj{i}" for i in np.repeat(np.arange(n_subjects), 100)[:rows]],
        "exptPart": np.where(rng.random(rows) < 0.98, "trial", "practice"),
        "trialNumber": np.tile(np.arange(1, 101), n_subjects + 1)[:rows],
        "roleCurrent": np.where(np.arange(rows) % 2 == 0, "bullshitter", "bullshitDetector"),
        "probabilityRed": rng.choice(["0.2", "0.5", "0.8"], rows),
        "drawnRed": rng.integers(0, 11, rows),
        "reportedDrawn": rng.integers(0, 11, rows),
        "callBS": rng.choice(["True", "False"], rows),
        "expt": rng.choice(["expt4", "expt5"], rows),
    })
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    args = parser.parse_args()
    rows = int(args.rows)
    spec = load_map(get_dataset("bullshitter").map_path)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        synthetic_export(path, rows)
        t0 = time.perf_counter()
        pd.read_csv(path, dtype=str, keep_default_na=False)
        floor = time.perf_counter() - t0
        t0 = time.perf_counter()
        frame, report = import_table(read_source(path), spec, str(path))
        seconds = time.perf_counter() - t0
    print(f"rows {rows:,}: pandas reads the CSV as text in {floor:.2f} s; import with the map {seconds:.2f} s "
          f"({seconds / floor:.1f}x the read); {report.n_decisions:,} decisions, {report.n_excluded:,} rows "
          f"not imported (practice rounds)")
    print(f"target: under 10 s for 1,000,000 rows: {'met' if rows >= 1e6 and seconds < 10 else 'see rows'}")


if __name__ == "__main__":
    main()
