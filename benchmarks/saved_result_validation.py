"""Benchmark: what reading a saved result through its JSON Schema costs, side by side with
reading it unchecked.

    python benchmarks/saved_result_validation.py [--repeats N]

(a) ``cheaptalk predict --fit FIT.json`` as a user runs it (a fresh process each time), with
    the schema check and, as the baseline, with the check replaced by a no-op (the same
    process otherwise). Target: the check adds under 50 ms.
(b) The check alone, in one process: the first call (importing ``fastjsonschema`` and
    compiling the schema) and later calls, on a fit JSON and on a comparison JSON of every
    model of the bundled (synthetic) data.
(c) The hostile corpus (``tests/hostile_corpus.py``): the inputs and the seconds of the
    run. Target: under 10 minutes.

Every figure is printed with its baseline in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the same `predict --fit` run, with the schema check left in or replaced by a no-op
PREDICT = """
import sys, time
start = time.perf_counter()
if sys.argv[1] == "unchecked":
    import cheaptalk.estimation.schema as schema
    schema.check_result = lambda data, source="<dict>", kind=None: "comparison" if "models" in data else "fit"
from cheaptalk.cli.main import main
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["predict", "--fit", sys.argv[2], "--json"])
print(time.perf_counter() - start, code)
"""


def _fit_json(folder: Path) -> Path:
    """A fit JSON of level-k on the monotone game, written by `cheaptalk fit` (synthetic data)."""
    data, out = folder / "mono.csv", folder / "fit.json"
    for argv in (["simulate", "--game", "monotone", "--model", "levelk", "--subjects", "16", "--rounds", "5",
                  "--seed", "3", "--out", str(data)],
                 ["fit", "--game", "monotone", "--model", "levelk", "--data", str(data), "--json", str(out),
                  "--quiet", "--starts", "1"]):
        subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", *argv], check=True, capture_output=True)
    return out


def bench_predict(fit: Path, repeats: int) -> dict:
    times = {"checked": [], "unchecked": []}
    for _ in range(repeats):                 # alternated, so that drift hits both alike
        for label in times:
            run = subprocess.run([sys.executable, "-c", PREDICT, label, str(fit)], capture_output=True, text=True,
                                 check=True)
            seconds, code = run.stdout.split()
            assert code == "0", run.stderr
            times[label].append(float(seconds))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"checked_s": med["checked"], "unchecked_s": med["unchecked"],
            "added_ms": 1000 * (med["checked"] - med["unchecked"]), "repeats": repeats}


def bench_check(fit: Path, folder: Path) -> dict:
    comparison = folder / "compare.json"
    subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "compare", "--folds", "2", "--no-holdout",
                    "--no-regularities", "--quiet", "--json", str(comparison)], check=True, capture_output=True)
    code = f"""
import time
t0 = time.perf_counter()
from cheaptalk.estimation.schema import check_result, read_json
t1 = time.perf_counter()
out = {{}}
for name, path in (("fit", {str(fit)!r}), ("comparison", {str(comparison)!r})):
    doc = read_json(path)
    start = time.perf_counter(); check_result(doc, path); first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        check_result(doc, path)
    out[name] = (first, (time.perf_counter() - start) / 20)
import json
print(json.dumps({{"import_s": t1 - t0, **out}}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figures = json.loads(run.stdout)
    figures["sizes_kb"] = {"fit": fit.stat().st_size / 1024, "comparison": comparison.stat().st_size / 1024}
    return figures


def bench_corpus(folder: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from hostile_corpus import build, to_json

    cases = build(folder / "corpus", spark=False)
    todo, done = folder / "cases.json", folder / "results.json"
    todo.write_text(to_json(cases))
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "tests" / "hostile_corpus.py"), str(todo), str(done),
                    "--memory-mb", "3072", "--seconds", "60"], check=True)
    seconds = time.perf_counter() - start
    results = json.loads(done.read_text())
    slowest = max(results, key=lambda r: r["seconds"])
    return {"inputs": len(cases), "seconds": seconds, "slowest": f"{slowest['group']}/{slowest['name']}",
            "slowest_s": slowest["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    fit = _fit_json(folder)
    p = bench_predict(fit, args.repeats)
    print(f"(a) predict --fit, fresh process, median of {p['repeats']}: checked {p['checked_s']:.3f} s, "
          f"unchecked (baseline) {p['unchecked_s']:.3f} s; the check adds {p['added_ms']:+.1f} ms (target < 50)")
    c = bench_check(fit, folder)
    print(f"(b) import of the reader {1000 * c['import_s']:.1f} ms; check of a fit JSON ({c['sizes_kb']['fit']:.0f} kB): "
          f"first {1000 * c['fit'][0]:.1f} ms (compiles the schema), then {1000 * c['fit'][1]:.2f} ms; "
          f"of a comparison JSON ({c['sizes_kb']['comparison']:.0f} kB): first {1000 * c['comparison'][0]:.1f} ms, "
          f"then {1000 * c['comparison'][1]:.2f} ms")
    k = bench_corpus(folder)
    print(f"(c) hostile corpus (local engine): {k['inputs']} inputs in {k['seconds']:.0f} s (target < 600); "
          f"slowest {k['slowest']} {k['slowest_s']:.1f} s")


if __name__ == "__main__":
    main()
