"""What honest cross-validation and the model confidence set cost: `cheaptalk compare` on the
bundled data (the main job) and on the lying-game data, this checkout against an earlier
revision, side by side in the same run.

The earlier revision is checked out into a temporary git worktree and run from its own
sources (``PYTHONPATH``), with the installed dependencies; each command runs once per
version, alternating, after one warm-up run of each that fills JAX's compilation cache (so
neither version pays for compiling).

    python benchmarks/verdict_cost.py --baseline c516135
    python benchmarks/verdict_cost.py --baseline c516135 --skip-real   # bundled data only

The lying-game data are read from ``../shared/data`` (``CHEAPTALK_DATA_MIRROR``) when present.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def run(src: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    if SHARED.exists():
        env.setdefault("CHEAPTALK_DATA_MIRROR", str(SHARED))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "compare", "--quiet", *args], env=env,
                          cwd=src.parent, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"compare {' '.join(args)} failed from {src}:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--skip-real", action="store_true", help="only the bundled data")
    args = parser.parse_args()
    jobs = [("bundled data (main job)", [])]
    if not args.skip_real:
        jobs.append(("lying-game data", ["--dataset", "bullshitter"]))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            print("| job | baseline (s) | this checkout (s) | ratio |")
            print("|---|---:|---:|---:|")
            for label, argv in jobs:
                for src in (base / "src", ROOT / "src"):
                    run(src, argv)                                    # warm the compilation cache
                old = run(base / "src", argv)
                new = run(ROOT / "src", argv)
                print(f"| {label} | {old:.1f} | {new:.1f} | {new / old:.2f} |", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
