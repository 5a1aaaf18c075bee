"""A standing corpus of hostile inputs, one group per reader: game files, decision files,
import maps, saved results, trust logs and option values.

:func:`build` writes the inputs under a folder and returns the cases; running this module
(``python tests/hostile_corpus.py CASES.json RESULTS.json --memory-mb M --seconds S``) runs
every case through the command line's ``main`` in one process (the imports paid once), each
under a time limit (``SIGALRM``) and the whole run under a memory limit (``RLIMIT_DATA``),
and writes each case's exit code, standard error, standard output and seconds.
``tests/test_hostile_corpus.py`` asserts, for every case: a correct result whose counts add
up, or a refusal in one line (a data error may add its report) with exit code 2; never an
internal error, a time-out or a memory error.

New readers and new reproductions of defects belong here, so that they stay fixed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Case:
    group: str
    name: str
    argv: list
    expect: str = "refuse"          # "refuse", "accept" or "either"
    counts: str | None = None       # how an accepted run's JSON adds up: "import", "fit" or "logs"
    out: str | None = None          # the JSON an accepted run writes
    rows: int | None = None         # rows of the input, for the counts
    lines: int = 1                  # lines a refusal may take (the first names the problem)
    message: str = ""               # text the refusal must contain
    extra: dict = field(default_factory=dict)


# --- game files -----------------------------------------------------------------------------------

FINITE = """name = "g"
kind = "finite"
[states]
values = [1, 3, 5, 7, 9]
[messages]
meanings = [1, 3, 5, 7, 9]
[actions]
grid = { start = 1, stop = 9, step = 0.5 }
[payoffs]
sender = "110 - 10 * abs(a - s - 1) ** 1.4"
receiver = "110 - 10 * abs(a - s) ** 1.4"
"""
FORECAST = """kind = "forecast"
[parameters]
r = 1.0
w = 0.75
c = 0.25
[treatments.A]
parameters = { c = 0.5 }
"""


def _games(root: Path) -> list[Case]:
    folder = root / "games"
    folder.mkdir()
    texts = {
        "empty": ("", "not valid TOML|'kind'"),
        "random-bytes": (bytes(range(256)) * 8, "UTF-8"),
        "latin-1": ("name = 'J\xfcrgen'\n" + FINITE.split("\n", 1)[1]).encode("latin-1"),
        "deep-nesting": ("x = " + "[" * 5000 + "]" * 5000, "nested too deep|not valid TOML"),
        "too-large": ("# " + "x" * 1_100_000 + "\n" + FINITE, "too large for a game file"),
        "unknown-top-key": (FINITE + "[nosie]\nsd = 1\n", "unknown key 'nosie'"),
        "kind-inside-treatment": (FINITE + "[treatments.T]\nkind = 'forecast'\n", "unknown key 'kind'"),
        "treatments-under-actions": (FINITE.replace("[actions]\n", "[actions]\ntreatments = 5\n"),
                                     "unknown key 'treatments'"),
        "messages-high-inf": (FORECAST + "[messages]\nhigh = inf\n", "finite number"),
        "ragged-payoffs": (FINITE.replace('receiver = "110 - 10 * abs(a - s) ** 1.4"', "receiver = [[1], [2, 3]]"),
                           "rectangular"),
        "no-states": (FINITE.replace("values = [1, 3, 5, 7, 9]\n[messages]", "values = []\n[messages]"),
                      "at least two states"),
        "tiny-step": (FINITE.replace("step = 0.5", "step = 1e-9"), "limit"),
        "huge-number": (FINITE.replace("110 - 10", "1" * 400 + " - 10", 1), "too large"),
        "code-injection": (FINITE.replace('sender = "110', 'sender = "__import__(\'os\').system(\'true\') + 110'),
                           "not allowed|unknown name"),
        "constant-bool": (FINITE + "[constants]\nb = true\n", "number"),
        "many-treatments": (FINITE + "".join(f"[treatments.t{i}]\n" for i in range(1001)), "limit of 1000"),
        "zero-prior": (FINITE.replace("[messages]", "prior = [0, 0, 1, 0, 0]\n[messages]"), "positive"),
        "parameter-list": (FORECAST.replace("c = 0.25", "c = [0.25]"), "must be a number"),
        "treatment-not-table": (FORECAST + "[treatments]\nB = 5\n", "table"),
    }
    cases = []
    for name, spec in texts.items():
        text, message = spec if isinstance(spec, tuple) else (spec, "")
        path = folder / f"{name}.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        cases.append(Case("games", name, ["predict", "--model", "levelk", "--game", str(path), "--json"],
                          message=message))
    for name in ("/dev/zero", str(folder)):
        cases.append(Case("games", f"not-a-file:{name}", ["predict", "--model", "levelk", "--game", name, "--json"],
                          message="not a regular file|folder"))
    for name, text in (("good-finite", FINITE), ("good-forecast", FORECAST)):
        path = folder / f"{name}.toml"
        path.write_text(text)
        cases.append(Case("games", name, ["predict", "--model", "levelk", "--game", str(path), "--json"],
                          expect="accept"))
    return cases


# --- decision files -------------------------------------------------------------------------------

def _decisions(root: Path) -> list[Case]:
    import numpy as np
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model

    folder = root / "decisions"
    folder.mkdir()
    model = get_model("levelk", load_game("crawford-sobel"))
    good = model.simulate(model.defaults(), 6, 4, seed=1)
    header = ",".join(good.columns)

    def fit(path, name, expect="either", rows=None, message="", lines=3):
        out = folder / f"{name}.json"
        return Case("decisions", name, ["fit", "--game", "crawford-sobel", "--model", "levelk", "--data", str(path),
                                         "--quiet", "--starts", "1", "--min-rounds", "1", "--json", str(out)],
                    expect=expect, counts="fit", out=str(out), rows=rows, message=message, lines=lines)

    cases = []
    variants = {
        "good": (good, "accept"),
        "a-missing-action": (good.assign(action=np.where(np.arange(len(good)) == 1, np.nan, good["action"])),
                             "either"),
        "text-in-round": (good.assign(round=good["round"].astype(object).where(good.index != 3, "three")), "refuse"),
        "huge-message": (good.assign(message=good["message"].astype(float).where(good.index != 2, 1e19)), "refuse"),
        "infinite-state": (good.assign(state=good["state"].astype(float).where(good.index != 0, np.inf)), "refuse"),
        "negative-round": (good.assign(round=good["round"].where(good.index != 0, -1)), "refuse"),
        "fractional-round": (good.assign(round=good["round"].astype(float).where(good.index != 0, 1.5)), "refuse"),
        "unknown-role": (good.assign(role=good["role"].where(good.index != 0, "dictator")), "refuse"),
        "long-cell": (good.assign(subject=good["subject"].astype(str).where(good.index != 0, "x" * 10_000)),
                      "either"),
    }
    for name, (frame, expect) in variants.items():
        for suffix in (".csv", ".parquet"):
            path = folder / f"{name}{suffix}"
            if suffix == ".csv":
                frame.to_csv(path, index=False)
            else:
                frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(path)
            cases.append(fit(path, f"{name}{suffix}", expect=expect, rows=len(frame)))
    raw = {"empty": b"", "header-only": (header + "\n").encode(), "random-bytes": bytes(range(256)) * 16,
           "latin-1": (header + "\n" + "J\xfcrgen,sender,1,1,1,\n").encode("latin-1"),
           "duplicate-header": ("subject,role,round,state,state,message,action\n").encode(),
           "missing-column": ("subject,role,round,state,message\na,sender,1,1,1\n").encode(),
           "extra-fields": (header + "\n" + "a,sender,1,1,1,,,,,\n").encode(),
           "unclosed-quote": (header + '\n"a,sender,1,1,1,\n').encode()}
    for name, content in raw.items():
        path = folder / f"{name}.csv"
        path.write_bytes(content)
        cases.append(fit(path, name, expect="refuse"))
    folder_case = folder / "a-folder.csv"
    folder_case.mkdir()
    cases.append(fit(folder_case, "a-folder", expect="refuse", message="folder"))
    return cases


# --- import maps ----------------------------------------------------------------------------------

MAP = """[source]
keep = "KEEP"

[columns]
subject = "subjID"
round = "trialNumber"
role = "roleCurrent"
state = "drawnRed"
message = "reportedDrawn"
action = { column = "callBS", roles = ["receiver"] }
treatment = { template = "{expt}-{probabilityRed}" }

[values.role]
bullshitter = "sender"
bullshitDetector = "receiver"

[values.action]
"False" = 0
"True" = 1
"""


def _maps(root: Path) -> list[Case]:
    import pandas as pd

    folder = root / "maps"
    folder.mkdir()
    rows = []
    for subject in range(4):
        for trial in range(1, 6):
            rows.append({"subjID": f"s{subject}", "exptPart": "trial" if trial > 1 else "practice",
                         "trialNumber": trial, "roleCurrent": ["bullshitter", "bullshitDetector"][trial % 2],
                         "drawnRed": trial + subject, "reportedDrawn": trial + subject + 1,
                         "callBS": ["False", "True"][subject % 2], "expt": "e4", "probabilityRed": 0.5})
    data = folder / "data.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    header = data.read_text().splitlines()[0]
    cases = []

    def case(name, keep="exptPart == 'trial'", map_text=None, source=data, expect="refuse", message="",
             output=None):
        mp = folder / f"{name}.toml"
        mp.write_text(map_text if map_text is not None else MAP.replace("KEEP", keep))
        out = output or str(folder / f"{name}.csv")
        report = folder / f"{name}.report.json"
        cases.append(Case("maps", name, ["import", str(source), "--map", str(mp), "-o", out, "--json", str(report)],
                          expect=expect, counts="import", out=str(report), rows=None, message=message,
                          extra={"output": out}))

    case("good", expect="accept")
    case("keep-rounds", "exptPart == 'trial' and trialNumber in [2, 3]", expect="accept")
    case("in-list-of-numbers-and-text", "trialNumber in [2, '3'] or subjID not in ['s0']", expect="accept")
    case("constant-in-column", "5 in [trialNumber]", message="needs a column name on its left")
    case("in-list-of-columns", "trialNumber in [subjID]", message="names a column")
    case("huge-number", "trialNumber < " + "9" * 1500, message="not finite or too large")
    case("beyond-double", "trialNumber > 1e400", message="not finite or too large")
    case("keeps-nothing", "exptPart == 'tria'", message="keeps none")
    case("code", "__import__('os').system('true') == 0", message="not allowed")
    case("attribute", "subjID.__class__ == 1", message="not allowed")
    case("unparsable", "trialNumber ==", message="cannot parse")
    case("long", "trialNumber == 1 or " * 200 + "trialNumber == 2", message="longer than")
    case("unknown-column", "colour == 'red'", message="colour")
    case("not-toml", map_text="[[[", message="")
    case("unmapped-role", map_text=MAP.replace("KEEP", "exptPart == 'trial'").replace(
        'bullshitDetector = "receiver"\n', ""), expect="accept")
    two = MAP.replace("KEEP", "exptPart == 'trial'").replace('role = "roleCurrent"\n', "").replace(
        'action = { column = "callBS", roles = ["receiver"] }\n', "") + (
        '\n[[decisions]]\nrole = { value = "sender" }\n\n[[decisions]]\nrole = { value = "receiver" }\n'
        'action = "callBS"\n')
    case("two-decisions-per-row", map_text=two.replace('"False" = 0\n', ""), expect="accept")
    dup = folder / "dup.csv"
    dup.write_text(header + ",drawnRed\n" + "\n".join(line + ",9" for line in data.read_text().splitlines()[1:])
                   + "\n")
    case("duplicate-header", source=dup, message="more than once")
    inf = folder / "inf.csv"
    pd.DataFrame(rows).assign(drawnRed=["inf" if i == 2 else r["drawnRed"] for i, r in enumerate(rows)]).to_csv(
        inf, index=False)
    case("infinite-value", source=inf, message="not a finite number")
    case("output-is-the-map", output=str(folder / "output-is-the-map.toml"), message="overwrite the map")
    case("output-is-the-data", output=str(data), message="overwrite the data")
    (folder / "afile").write_text("x")
    case("output-under-a-file", output=str(folder / "afile" / "o.csv"), message="is a file, not a folder")
    case("output-a-folder", output=str(folder), message="is a folder")
    return cases


# --- saved results --------------------------------------------------------------------------------

def _results(root: Path, logs: Path) -> list[Case]:
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model

    folder = root / "results"
    folder.mkdir()
    model = get_model("levelk", load_game("monotone"))
    fit = {"schema_version": 2, "result": "fit", "model": "levelk", "game": "monotone", "options": {},
           "loglik": -10.0, "n_params": len(model.param_names), "n_obs": 20, "n_subjects": 4, "converged": True,
           "params": {n: {"estimate": v, "se": 0.1} for n, v in model.defaults().items()}}
    trust = {"schema_version": 2, "result": "fit", "model": "trust-dynamics-binary", "rule": "asymmetric",
             "loglik": -10.0, "n_params": 5, "n_obs": 20, "n_subjects": 4, "converged": True,
             "params": {n: {"estimate": v, "se": 0.1} for n, v in
                        {"eta_up": 0.2, "eta_down": 0.3, "initial_trust_mean": 0.5,
                         "initial_trust_concentration": 4.0, "follow_slope": 1.5}.items()}}
    first = next(iter(fit["params"]))

    def edited(doc, change):
        doc = json.loads(json.dumps(doc))
        change(doc)
        return json.dumps(doc)

    docs = {
        "string-estimate": (edited(fit, lambda d: d["params"][first].update(estimate="x")), "estimate"),
        "huge-integer": (json.dumps(fit).replace('"n_obs": 20', '"n_obs": ' + "9" * 5000), "digits"),
        "covariance-5": (edited(fit, lambda d: d.update(covariance=5)), "covariance"),
        "models-junk": ('{"models": [1, "x"]}', r"models\[0\]"),
        "deep-nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "missing-parameter": (edited(fit, lambda d: d["params"].pop(first)), ""),
        "null-estimate": (edited(fit, lambda d: d["params"][first].update(estimate=None)), "did not identify"),
        "newer-version": (edited(fit, lambda d: d.update(schema_version=99)), "newer"),
        "game-elsewhere": (edited(fit, lambda d: d.update(game="/etc/passwd")), "--game FILE"),
        "options-too-big": (edited(fit, lambda d: d.update(options={"max_level": 1_000_000})), "from 1 to 20"),
        "estimate-out-of-range": (edited(fit, lambda d: d["params"][first].update(estimate=5.0)), "outside"),
        "not-json": ("{'model': 1}", "not a JSON file"),
        "nan-literal": (json.dumps(fit).replace('"loglik": -10.0', '"loglik": NaN'), None),
    }
    cases = []
    for name, (text, message) in docs.items():
        path = folder / f"{name}.json"
        path.write_text(text)
        expect = "accept" if message is None else "refuse"
        cases.append(Case("results", f"predict:{name}", ["predict", "--fit", str(path), "--json"], expect=expect,
                          message=message or ""))
        if name not in ("null-estimate", "game-elsewhere", "options-too-big", "estimate-out-of-range",
                        "missing-parameter"):
            cases.append(Case("results", f"table:{name}", ["table", str(path)], expect=expect, message=message or ""))
    for name in ("/dev/zero", str(folder)):
        cases.append(Case("results", f"predict:{name}", ["predict", "--fit", name, "--json"],
                          message="not a regular file|folder"))
    trust_docs = {
        "whatif-newer-version": (edited(trust, lambda d: d.update(schema_version=99)), "newer"),
        "whatif-negative-rate": (edited(trust, lambda d: d["params"]["eta_up"].update(estimate=-5.0)), "outside"),
        "whatif-nan-rate": (json.dumps(trust).replace('"estimate": 0.2', '"estimate": NaN'), "not identified"),
        "whatif-unknown-rule": (edited(trust, lambda d: d.update(rule="telepathy")), "telepathy"),
        "whatif-nodes": (edited(trust, lambda d: d.update(diagnostics={"quadrature": {"nodes": 10 ** 6}})), "nodes"),
        "whatif-good": (json.dumps(trust), None),
    }
    for name, (text, message) in trust_docs.items():
        path = folder / f"{name}.json"
        path.write_text(text)
        cases.append(Case("results", name, ["trust", "whatif", "--fit", str(path), "--logs", str(logs),
                                            "--sample-sellers", "50", "--error-scale", "1,0.5", "--json"],
                          expect="accept" if message is None else "refuse", message=message or ""))
    return cases


# --- trust logs -----------------------------------------------------------------------------------

def _logs(root: Path, good: Path, engine: str = "local") -> list[Case]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / f"logs-{engine}"
    folder.mkdir()
    events = pd.read_parquet(good / "events")
    cases = []

    def fit(path, name, expect, rows=None, message=""):
        out = folder / f"{name}.json"
        return Case(f"logs-{engine}", name, ["trust", "fit", "--logs", str(path), "--engine", engine, "--quiet",
                                             "--fidelity-scale", "30", "--nodes", "20", "--json", str(out)],
                    expect=expect, counts="logs", out=str(out), rows=rows, message=message)

    def write(name, frames):
        path = folder / name
        path.mkdir()
        for i, frame in enumerate(frames):
            if isinstance(frame, bytes):
                (path / f"part-{i}.parquet").write_bytes(frame)
            elif isinstance(frame, pa.Table):
                pq.write_table(frame, path / f"part-{i}.parquet")
            else:
                frame.to_parquet(path / f"part-{i}.parquet", index=False)
        return path

    half = events["seller"] < events["seller"].median()
    cases.append(fit(good, "good", "accept", rows=len(events)))
    cases.append(fit(write("zero-bytes", [events, b""]), "zero-bytes", "refuse", message="0 bytes"))
    cases.append(fit(write("random-bytes", [events, bytes(range(256)) * 40]), "random-bytes", "refuse",
                     message="not a readable Parquet file"))
    cases.append(fit(write("int-and-float-times", [events[half], events[~half].assign(
        time=events.loc[~half, "time"].astype(float))]), "int-and-float-times", "accept", rows=len(events)))
    cases.append(fit(write("times-and-timestamps", [events[half], events[~half].assign(
        time=pd.to_datetime(events.loc[~half, "time"], unit="s"))]), "times-and-timestamps", "refuse",
        message="timestamp"))
    table = pa.Table.from_pandas(events.assign(seller=events["seller"].astype(str)), preserve_index=False)
    seller, time_ = table.column("seller").to_pylist(), table.column("time").to_numpy().astype(float)
    seller[3], seller[9], time_[5] = None, "  ", np.nan
    holes = table.set_column(table.schema.get_field_index("seller"), "seller", pa.array(seller))
    holes = holes.set_column(holes.schema.get_field_index("time"), "time", pa.array(time_, from_pandas=False))
    cases.append(fit(write("null-seller-and-nan-time", [holes]), "null-seller-and-nan-time", "accept",
                     rows=len(events)))
    cases.append(fit(write("float-sellers", [events.assign(seller=events["seller"].astype(float))]),
                     "float-sellers", "refuse", message="integers or text"))
    cases.append(fit(write("huge-times", [events.assign(time=events["time"].astype("int64") + 2 ** 62)]),
                     "huge-times", "refuse", message=r"2\^53"))
    cases.append(fit(write("text-recommendations", [events.assign(recommendation="x")]), "text-recommendations",
                     "refuse", message="expected numbers"))
    extreme = events.assign(recommendation=np.where(np.arange(len(events)) < 7, 1e300, events["recommendation"]))
    cases.append(fit(write("extreme-values", [extreme]), "extreme-values", "accept", rows=len(events)))
    broken_meta = write("broken-schema-json", [events])
    (broken_meta.parent / "broken-schema-json-root").mkdir()
    (broken_meta.parent / "broken-schema-json-root" / "schema.json").write_text("{not json")
    broken_meta.rename(broken_meta.parent / "broken-schema-json-root" / "events")
    cases.append(fit(broken_meta.parent / "broken-schema-json-root", "broken-schema-json", "refuse",
                     message="not a readable JSON"))
    cases.append(fit(folder / "no-such-folder", "missing", "refuse", message="not found"))
    return cases


# --- option values --------------------------------------------------------------------------------

def _options(root: Path, logs: Path) -> list[Case]:
    argvs = {
        "levelk-max-level": (["predict", "--model", "levelk", "--game", "crawford-sobel", "--option",
                              "max_level=1000000", "--json"], "from 1 to 20"),
        "trust-nodes": (["predict", "--model", "trust", "--option", "n_nodes=1000", "--json"], "from 1 to 200"),
        "qre-iterations": (["predict", "--model", "qre", "--game", "crawford-sobel", "--option",
                            "newton_iterations=1e9", "--json"], "whole number"),
        "compare-model-option": (["compare", "--option", "levelk.max_level=x", "--quiet"], "no option"),
        "compare-unknown-model": (["compare", "--option", "nobody.x=1", "--quiet"], "not among"),
        "simulate-subjects": (["simulate", "--model", "levelk", "--game", "crawford-sobel", "--subjects",
                               "1000000000", "--out", str(root / "x.csv")], "--subjects"),
        "simulate-product": (["simulate", "--model", "levelk", "--game", "crawford-sobel", "--subjects", "100000",
                              "--rounds", "10000", "--out", str(root / "x.csv")], "decisions"),
        "fit-starts": (["fit", "--model", "levelk", "--starts", "0"], "--starts"),
        "trust-nodes-flag": (["trust", "fit", "--logs", str(logs), "--nodes", "100000"], "--nodes"),
        "trust-generate-events": (["trust", "generate", "--sellers", "1000000000", "--events-per-seller", "500",
                                   "--out", str(root / "g")], "events"),
        "whatif-draws": (["trust", "whatif", "--logs", str(logs), "--fit", "x.json", "--parameter-draws",
                          "100000000"], "--parameter-draws"),
        "compare-level": (["compare", "--level", "2"], "--level"),
        "trust-folds-beyond-sellers": (["trust", "compare", "--logs", str(logs), "--folds", "100", "--quiet"],
                                       "needs at least 200 sellers"),
        "option-format": (["predict", "--model", "levelk", "--option", "max_level"], "NAME=VALUE"),
        "table-digits": (["table", str(root / "none.json"), "--digits", "11"], "--digits"),
        "compare-bootstrap-lr": (["compare", "--bootstrap-lr", "-1"], "--bootstrap-lr"),
        "experiment-participants": (["experiment", "--participants", "3"], "even number"),
    }
    return [Case("options", name, argv, message=message) for name, (argv, message) in argvs.items()]


def _investments(root: Path, logs: Path) -> list[Case]:
    """Levers files of `trust plan`, seller tables of `trust effect`, experiments of `trust generate`."""
    d = root / "levers"
    d.mkdir(exist_ok=True)
    good = '[objective]\nprofit = 1.0\n\n[[lever]]\nname = "error_scale"\nlevels = [1.0, 0.5]\ncost = [0.0, 1.0]\n'
    files = {
        "empty": ("", r"no \[\[lever\]\]"),
        "binary": (b"\x00\xff\xfe" * 100, "not a TOML file"),
        "nan-level": (good.replace("[1.0, 0.5]", "[1.0, nan]"), "finite numbers"),
        "inf-cost": (good.replace("[0.0, 1.0]", "[0.0, inf]"), "finite numbers"),
        "combinatorial": ("[objective]\nprofit = 1.0\n" + "".join(
            f'[[lever]]\nname = "{n}"\nlevels = {[0.0] + [round(0.01 * i, 2) for i in range(1, 99)]}\n'
            f'cost = {[0.0] * 99}\n' for n in ("feedback_added", "initial_trust_shift")), "combinations of lever levels"),
        "horizon-huge": (good.replace("profit = 1.0", "profit = 1.0\nhorizon = 10000000000"), "horizon"),
        "segments-not-text": (good.replace('name = "error_scale"', 'name = "error_scale"\nsegments = [1, 2]'),
                              "segments"),
        "lever-as-text": ('lever = "error_scale"\n', r"no \[\[lever\]\]"),
        "weight-bool": (good.replace("profit = 1.0", "profit = true"), "not a finite number"),
    }
    cases = []
    fit = root / "fit-for-plan.json"
    for name, (text, message) in files.items():
        path = d / f"{name}.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        cases.append(Case("investments", f"levers-{name}", ["trust", "plan", "--fit", str(fit), "--logs", str(logs),
                                                            "--levers", str(path), "--budget", "10", "--quiet"],
                          message=message))
    table = d / "arms.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"seller": list(range(40)), "arm": ["maybe"] + ["treated"] * 39}), table)
    effect = ["trust", "effect", "--logs", str(logs), "--quiet", "--from", "3"]
    cases += [
        Case("investments", "effect-arm-maybe", effect + ["--sellers-table", str(table), "--treatment", "arm"],
             message="not a treatment arm"),
        Case("investments", "effect-no-table", effect + ["--treatment", "treatment"], message="no seller table"),
        Case("investments", "effect-table-is-folder", effect + ["--sellers-table", str(d), "--treatment", "arm"],
             message="not a readable Parquet file"),
        Case("investments", "effect-garbage-change", ["trust", "effect", "--logs", str(logs), "--quiet", "--treatment",
                                                      "t", "--change", "error_scale=1e999,from=2"],
             message="not a finite number"),
        Case("investments", "plan-budget-inf", ["trust", "plan", "--fit", str(fit), "--logs", str(logs), "--levers",
                                                str(d / "empty.toml"), "--budget", "inf"], message="--budget"),
        Case("investments", "generate-randomize-share", ["trust", "generate", "--sellers", "10", "--events-per-seller",
                                                         "5", "--out", str(root / "r"), "--randomize",
                                                         "error_scale=0.5,share=2"], message="share"),
        Case("investments", "generate-randomize-from", ["trust", "generate", "--sellers", "10", "--events-per-seller",
                                                        "5", "--out", str(root / "r"), "--randomize",
                                                        "feedback_added=0.5,share=0.5,from=-1"], message="from="),
    ]
    return cases


def build(root: Path, spark: bool = False) -> list[Case]:
    """Write every input under ``root`` (a new folder) and return the cases."""
    from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs

    root.mkdir(parents=True, exist_ok=True)
    logs = root / "good-logs"
    generate_logs(logs, 40, 10, 1, SyntheticWorld(adoption="binary"), progress=False)
    cases = (_games(root) + _decisions(root) + _maps(root) + _results(root, logs) + _logs(root, logs)
             + _options(root, logs) + _investments(root, logs))
    if spark:
        cases += [c for c in _logs(root, logs, "spark") if c.name in ("good", "zero-bytes", "int-and-float-times",
                                                                       "null-seller-and-nan-time")]
    return cases


# --- the runner -------------------------------------------------------------------------------------

class _TimeUp(BaseException):
    """Raised by the alarm: a BaseException, so that no handler of the toolkit mistakes it for its own."""


def run(cases: list[dict], seconds: float) -> list[dict]:
    from cheaptalk.cli.main import main

    def alarm(signum, frame):
        raise _TimeUp

    signal.signal(signal.SIGALRM, alarm)
    results = []
    for case in cases:
        err, out = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = main(case["argv"])
        except _TimeUp:
            code = "timeout"
        except MemoryError:
            code = "memory"
        except SystemExit as exc:          # argparse's refusals
            code = exc.code
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        results.append({"name": case["name"], "group": case["group"], "code": code, "stderr": err.getvalue(),
                        "stdout": out.getvalue()[-20_000:], "seconds": time.perf_counter() - start})
    return results


if __name__ == "__main__":
    import argparse
    import resource

    parser = argparse.ArgumentParser()
    parser.add_argument("cases")
    parser.add_argument("results")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if args.memory_mb:
        limit = args.memory_mb * 2 ** 20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    os.environ.setdefault("CHEAPTALK_NO_PROGRESS", "1")
    todo = json.loads(Path(args.cases).read_text())
    Path(args.results).write_text(json.dumps(run(todo, args.seconds)))
    sys.exit(0)


def to_json(cases: list[Case]) -> str:
    return json.dumps([asdict(c) for c in cases])
