"""The standing corpus of hostile inputs (tests/hostile_corpus.py), run in a child process
under a memory limit with a time limit per input: every input gives a correct result whose
counts add up, or a refusal with exit code 2 in one line; none an internal error, a time-out
or a memory error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_corpus import build, to_json  # noqa: E402

SECONDS = 60            # per input
MEMORY_MB = 3072        # the whole run's data segment (RLIMIT_DATA)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cases = build(root / "inputs", spark=True)
    results = {}
    for memory, group in ((MEMORY_MB, [c for c in cases if c.group != "logs-spark"]),
                          (0, [c for c in cases if c.group == "logs-spark"])):   # (the JVM sizes its own heap)
        todo, done = root / "cases.json", root / "results.json"
        todo.write_text(to_json(group))
        run = subprocess.run([sys.executable, str(Path(__file__).parent / "hostile_corpus.py"), str(todo), str(done),
                              "--memory-mb", str(memory), "--seconds", str(SECONDS)],
                             capture_output=True, text=True, timeout=3000)
        assert run.returncode == 0, run.stderr[-3000:]
        results.update({(r["group"], r["name"]): r for r in json.loads(done.read_text())})
    return cases, results


def _counts_add_up(case, result) -> str | None:
    """Why an accepted run's counts do not add up (None when they do)."""
    if case.counts is None:
        if case.group == "games":       # predict's JSON: numbers only, no NaN or Infinity
            json.loads(result["stdout"], parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        return None
    doc = json.loads(Path(case.out).read_text())
    if case.counts == "import":
        if doc["possible_decisions"] != doc["decisions"] + doc["not_imported"]:
            return f"possible {doc['possible_decisions']} != {doc['decisions']} + {doc['not_imported']}"
        if sum(doc["excluded"].values()) != doc["not_imported"]:
            return "reasons do not sum to the decisions not imported"
        written = len(Path(case.extra["output"]).read_text().splitlines()) - 1
        return None if written == doc["decisions"] else f"{written} rows written, {doc['decisions']} reported"
    if case.counts == "fit":
        c = doc["cleaning"]
        total = c["used"] + sum(c["dropped"].values())
        return None if c["rows"] == total == case.rows else f"rows {c['rows']} != used + dropped {total}"
    if case.counts == "logs":
        total = doc["n_events"] + doc["exclusions"]["rows_excluded"]
        return None if total == case.rows else f"{case.rows} rows != {doc['n_events']} used + excluded"
    raise AssertionError(case.counts)


def test_every_hostile_input_is_refused_in_one_line_or_accepted_with_counts_that_add_up(corpus):
    cases, results = corpus
    problems = []
    for case in cases:
        r = results[(case.group, case.name)]
        where = f"{case.group}/{case.name}"
        if r["code"] in ("timeout", "memory") or r["seconds"] > SECONDS:
            problems.append(f"{where}: {r['code']} after {r['seconds']:.0f} s")
            continue
        lines = [line for line in r["stderr"].splitlines() if line.strip()]
        if r["code"] == 0:
            if case.expect == "refuse":
                problems.append(f"{where}: accepted, should be refused")
                continue
            try:
                why = _counts_add_up(case, r)
            except (ValueError, KeyError, OSError) as exc:
                why = f"unreadable result ({exc})"
            if why:
                problems.append(f"{where}: {why}")
            continue
        if r["code"] != 2 or "internal error" in r["stderr"] or "Traceback" in r["stderr"]:
            problems.append(f"{where}: exit {r['code']}: {r['stderr'][-400:]}")
            continue
        if case.expect == "accept":
            problems.append(f"{where}: refused, should be accepted: {lines[:1]}")
        elif len(lines) > case.lines or not lines:
            problems.append(f"{where}: {len(lines)} lines of refusal: {lines[:3]}")
        elif case.message and not re.search(case.message, r["stderr"]):
            problems.append(f"{where}: refusal without {case.message!r}: {lines[0]}")
    assert not problems, "\n".join(problems)
    assert len(cases) >= 100


def test_the_corpus_covers_every_reader(corpus):
    cases, _ = corpus
    groups = {c.group for c in cases}
    assert groups == {"games", "decisions", "maps", "results", "logs-local", "logs-spark", "options", "investments"}
    assert {c.expect for c in cases} >= {"refuse", "accept"}
