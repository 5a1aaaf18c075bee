"""Importing other people's exports into the long format with a column map.

Real data never arrive in the long format: columns have other names, roles are coded by
other words, the action is ``True``/``False``, the treatment is spread over two columns,
practice rounds must go. A *map* (a small TOML file, ``docs/importing.md``) says once how
an export becomes decisions::

    [source]
    keep = "exptPart == 'trial'"              # optional: rows to keep (a safe condition)

    [columns]                                 # long-format column = source column, or
    subject = "subjID"                        #   { template = "{a}-{b}" } built from several,
    role = "roleCurrent"                      #   { value = "sender" } a constant,
    action = { column = "callBS", roles = ["receiver"] }   # only on some roles' rows
    treatment = { template = "{expt}-{probabilityRed}" }

    [values.role]                             # source value -> long-format value
    bullshitter = "sender"

    [flags]
    timeout = "decision == 'delegated'"       # rows whose choice is not a choice

    [[decisions]]                             # optional: one decision per entry and row
    role = { value = "sender" }               #   (a row that holds both roles), each
    subject = "sender_id"                     #   entry over the [columns] defaults

Every source row is either imported or counted with its reason (not kept by the map's
condition; a value with no mapping); errors name the file, row and column. Conditions are
parsed with :mod:`ast` and evaluated by walking the tree (comparisons, ``and``/``or``/
``not``, ``in [...]``, numbers and strings, column names, `` `odd.name` `` in backticks):
nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .longformat import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROLES, DataFormatError, repeated_names
from ..errors import MapError  # noqa: F401 (defined there, raised here)

__all__ = ["ImportMap", "MapError", "ImportReport", "load_map", "import_table", "read_source"]

LONG_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".dta": "stata", ".xlsx": "excel", ".xls": "excel"}


# --- reading the source --------------------------------------------------------------------------

def read_source(path: str | Path, fmt: str | None = None, sheet=None) -> pd.DataFrame:
    """Read an export (CSV, TSV, Parquet, Stata ``.dta``, Excel) as text-preserving columns.

    CSV columns are read as text so that codes keep their spelling (``"True"``, ``"007"``);
    numbers are converted where the long format needs them.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    if path.is_dir():
        raise DataFormatError(f"{path}: is a folder, not a data file")
    fmt = fmt or _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFormatError(f"{path}: unknown file type {path.suffix!r}; say [source] format = "
                              f"one of {sorted(set(_FORMATS.values()))}")
    try:
        if fmt in ("csv", "tsv"):
            sep = "\t" if fmt == "tsv" else ","
            _refuse_duplicate_headers(pd.read_csv(path, dtype=str, header=None, nrows=1, sep=sep), path)
            return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "stata":
            return pd.read_stata(path, convert_categoricals=True)
        if fmt == "excel":
            _refuse_duplicate_headers(pd.read_excel(path, sheet_name=sheet or 0, dtype=str, header=None, nrows=1), path)
            return pd.read_excel(path, sheet_name=sheet or 0, dtype=str)
    except DataFormatError:
        raise
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{path}: the file is empty (no header row)") from None
    except ImportError as exc:
        raise DataFormatError(f"{path}: reading {fmt} files needs a package that is not installed ({exc})") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise DataFormatError(f"{path}: cannot be read as {fmt}: {exc}") from None
    raise DataFormatError(f"{path}: unknown format {fmt!r}")


def _refuse_duplicate_headers(header: pd.DataFrame, path: Path) -> None:
    """pandas renames a repeated header ``x`` to ``x.1``; a map naming ``x`` would then read
    one of two columns without a word, so a repeated header is refused."""
    if header.empty:
        return
    names = [str(v) for v in header.iloc[0].tolist()]
    repeated = repeated_names(names)
    if repeated:
        where = ", ".join(f"{name!r} (columns {[i + 1 for i, n in enumerate(names) if n == name]})"
                          for name in repeated[:5])
        raise DataFormatError(f"{path}: row 1 (the header) names a column more than once: {where}; rename one "
                              f"so that the map reads the column it means")


def otree_wide_to_rounds(frame: pd.DataFrame, app: str, source: str) -> pd.DataFrame:
    """An oTree ``all_apps_wide`` export (one row per participant, columns
    ``APP.ROUND.player.FIELD``) as one row per participant and round of ``app``, with columns
    ``participant.*``, ``session.*``, ``player.FIELD``, ``group.FIELD``, ``subsession.FIELD``
    and ``round`` (the round number). Other apps' columns are left out."""
    pattern = re.compile(rf"^{re.escape(app)}\.(\d+)\.(player|group|subsession)\.(.+)$")
    by_round: dict[int, dict[str, str]] = {}
    for col in frame.columns:
        hit = pattern.match(str(col))
        if hit:
            by_round.setdefault(int(hit.group(1)), {})[col] = f"{hit.group(2)}.{hit.group(3)}"
    if not by_round:
        apps = sorted({str(c).split(".")[0] for c in frame.columns if str(c).count(".") >= 3})
        raise DataFormatError(f"{source}: no columns of app {app!r} (APP.ROUND.player.FIELD); "
                              f"apps in the file: {apps or 'none'}")
    fields = set().union(*(set(names.values()) for names in by_round.values()))
    for rnd in sorted(by_round):
        missing = sorted(fields - set(by_round[rnd].values()))
        if missing:     # oTree writes every field in every round: a gap is a damaged export
            raise DataFormatError(f"{source}: has no column {app}.{rnd}.{missing[0]} although other rounds of "
                                  f"{app!r} have it ({len(missing)} such field(s) missing in round {rnd}); the "
                                  f"export is incomplete")
    common = [c for c in frame.columns if str(c).startswith(("participant.", "session."))]
    parts = []
    for rnd in sorted(by_round):
        part = frame[common + list(by_round[rnd])].rename(columns=by_round[rnd])
        part.insert(0, "round", str(rnd))
        part.insert(0, "_source_row", np.arange(1, len(frame) + 1))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# --- safe conditions -----------------------------------------------------------------------------

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_MAX_CONDITION = 2000       # characters; a condition is a line, not a program


class Condition:
    """A row filter such as ``exptPart == 'trial' and round > 2`` over a frame's columns.

    Comparisons between a column and a number compare numerically (text that is not a number
    is unequal to every number); between a column and a string they compare the text.
    """

    def __init__(self, text: str, where: str):
        self.text, self.where = str(text), where
        if len(self.text) > _MAX_CONDITION:
            raise MapError(f"{where}: the condition is longer than {_MAX_CONDITION} characters")
        self.names: dict[str, str] = {}

        def quoted(match):            # `odd.name` -> an identifier
            key = f"_c{len(self.names)}"
            self.names[key] = match.group(1)
            return key
        code = re.sub(r"`([^`]+)`", quoted, self.text)
        try:
            self.tree = ast.parse(code.strip(), mode="eval").body
        except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
            raise MapError(f"{where}: cannot parse condition {self.text!r}: {getattr(exc, 'msg', exc)}") from None
        self._check(self.tree, depth=0)

    def _check(self, node, depth):
        if depth > 50:
            raise MapError(f"{self.where}: the condition {self.text!r} is nested too deeply")
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v, depth + 1)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check(node.operand, depth + 1)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE and not isinstance(op, (ast.In, ast.NotIn)):
                    raise MapError(f"{self.where}: comparison {type(op).__name__} is not allowed")
            for part in [node.left, *node.comparators]:
                self._check_operand(part)
            for op, right in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    self._check_membership(node.left if len(node.ops) == 1 else None, right)
        else:
            raise MapError(f"{self.where}: {type(node).__name__} is not allowed in a condition "
                           f"({self.text!r}); use comparisons joined by and/or/not")

    def _check_membership(self, left, right):
        """``COLUMN in [VALUE, ...]``: a column on the left, values (not columns) on the right."""
        if not isinstance(left, ast.Name):
            raise MapError(f"{self.where}: in {self.text!r}, `in` needs a column name on its left and a list "
                           f"of values on its right (e.g. `round in [1, 2]`)")
        values = right.elts if isinstance(right, (ast.List, ast.Tuple)) else [right]
        if any(isinstance(v, ast.Name) for v in values):
            raise MapError(f"{self.where}: in {self.text!r}, the list after `in` names a column; it holds values "
                           f"(numbers or quoted text), and columns are compared with ==")

    def _check_number(self, value):
        if isinstance(value, str):
            return
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            raise MapError(f"{self.where}: the condition {self.text[:80]!r} holds a number that is not finite or "
                           f"too large for a double ({_short(value)}); use numbers below 1e308")

    def _check_operand(self, node):
        if isinstance(node, ast.Name):
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) \
                and not isinstance(node.value, bool):
            self._check_number(node.value)
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
                and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) \
                and not isinstance(node.operand.value, bool):
            self._check_number(node.operand.value)
            return
        if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) <= 10_000:
            for e in node.elts:
                if isinstance(e, (ast.List, ast.Tuple)):
                    raise MapError(f"{self.where}: nested lists are not allowed in a condition")
                self._check_operand(e)
            return
        raise MapError(f"{self.where}: {type(node).__name__} is not allowed as a value in a condition "
                       f"({self.text!r}); use column names, numbers, strings and lists")

    def columns(self) -> set[str]:
        return {self.names.get(n.id, n.id) for n in ast.walk(self.tree) if isinstance(n, ast.Name)}

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        missing = sorted(self.columns() - set(map(str, frame.columns)))
        if missing:
            raise MapError(f"{self.where}: the condition {self.text!r} names column(s) {missing} that the "
                           f"data do not have")
        return np.asarray(self._eval(self.tree, frame), bool)

    def _value(self, node, frame):
        if isinstance(node, ast.Name):
            return frame[self.names.get(node.id, node.id)]
        if isinstance(node, ast.UnaryOp):
            return -node.operand.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._value(e, frame) for e in node.elts]
        return node.value

    def _eval(self, node, frame):
        if isinstance(node, ast.BoolOp):
            parts = [self._eval(v, frame) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for p in parts[1:]:
                out = combine(out, p)
            return out
        if isinstance(node, ast.UnaryOp):
            return ~np.asarray(self._eval(node.operand, frame), bool)
        out = np.ones(len(frame), bool)
        left = self._value(node.left, frame)
        for op, right_node in zip(node.ops, node.comparators):
            right = self._value(right_node, frame)
            out &= _compare(op, left, right)
            left = right
        return out


def _short(value, width: int = 20) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width] + "..."


def _as_number(x):
    if isinstance(x, pd.Series):
        return pd.to_numeric(x, errors="coerce").to_numpy(float)
    return float(x)


def _compare(op, left, right) -> np.ndarray:
    if isinstance(op, (ast.In, ast.NotIn)):
        values = right if isinstance(right, list) else [right]
        if isinstance(left, pd.Series):
            numeric = [v for v in values if isinstance(v, (int, float))]
            text = [str(v) for v in values if isinstance(v, str)]
            hit = left.astype(str).isin(text).to_numpy().copy()   # (pandas may hand out a read-only view)
            if numeric:
                hit |= np.isin(_as_number(left), numeric)
        else:
            hit = np.asarray(left in values)
        return ~hit if isinstance(op, ast.NotIn) else hit
    numeric = any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if numeric:
        with np.errstate(invalid="ignore"):
            return np.asarray(_COMPARE[type(op)](_as_number(left), _as_number(right)), bool)
    lhs = left.astype(str) if isinstance(left, pd.Series) else str(left)
    rhs = right.astype(str) if isinstance(right, pd.Series) else str(right)
    return np.asarray(_COMPARE[type(op)](lhs, rhs), bool)


# --- the map -------------------------------------------------------------------------------------

@dataclass
class ColumnSpec:
    """How one long-format column is made: from a source column, a template or a constant,
    on the rows of some roles only."""

    column: str | None = None
    template: str | None = None
    value: object = None
    roles: tuple = ROLES
    condition: "Condition | None" = None     # 1 where it holds, else 0

    def sources(self) -> set[str]:
        if self.column is not None:
            return {self.column}
        if self.template is not None:
            return set(re.findall(r"\{([^{}]+)\}", self.template))
        if self.condition is not None:
            return self.condition.columns()
        return set()

    def build(self, frame: pd.DataFrame) -> pd.Series:
        if self.column is not None:
            return frame[self.column].astype(object)
        if self.condition is not None:
            return pd.Series(self.condition(frame).astype(int), index=frame.index, dtype=object)
        if self.template is not None:
            parts = re.split(r"(\{[^{}]+\})", self.template)
            out = pd.Series([""] * len(frame), index=frame.index, dtype=object)
            for part in parts:
                if part.startswith("{") and part.endswith("}"):
                    out = out + frame[part[1:-1]].astype(str)
                else:
                    out = out + part
            return out
        return pd.Series([self.value] * len(frame), index=frame.index, dtype=object)


@dataclass
class ImportMap:
    """A parsed column map (see the module docstring)."""

    path: str
    decisions: list                                  # one {long column: ColumnSpec} per decision of a row
    values: dict = field(default_factory=dict)       # long column -> {source text: long value}
    keep: Condition | None = None
    flags: dict = field(default_factory=dict)        # flag column -> Condition
    fmt: str | None = None
    sheet: object = None
    otree_app: str | None = None
    output: str = "decisions"                       # or "trust-logs" (:mod:`cheaptalk.data.trust_logs`)

    def source_columns(self) -> set[str]:
        cols = {c for d in self.decisions for spec in d.values() for c in spec.sources()}
        for cond in [self.keep, *self.flags.values()]:
            if cond is not None:
                cols |= cond.columns()
        return cols


def _column_spec(raw, where: str) -> ColumnSpec:
    if isinstance(raw, str):
        return ColumnSpec(column=raw)
    if isinstance(raw, dict):
        known = {"column", "template", "value", "condition", "roles"}
        unknown = set(raw) - known
        if unknown:
            raise MapError(f"{where}: unknown key(s) {sorted(unknown)}; use column, template, value or condition, "
                           f"and roles")
        given = [k for k in ("column", "template", "value", "condition") if k in raw]
        if len(given) != 1:
            raise MapError(f"{where}: give exactly one of column, template, value or condition")
        roles = tuple(raw.get("roles", ROLES))
        if not roles or any(r not in ROLES for r in roles):
            raise MapError(f"{where}: roles must be a list of {list(ROLES)}, got {raw.get('roles')!r}")
        if given[0] == "condition":
            if not isinstance(raw["condition"], str):
                raise MapError(f"{where}: a condition is text such as \"AdvisorCorrect in [0, 1]\"")
            return ColumnSpec(roles=roles, condition=Condition(raw["condition"], where))
        spec = ColumnSpec(roles=roles, **{given[0]: raw[given[0]]})
        if spec.column is not None and not isinstance(spec.column, str):
            raise MapError(f"{where}: column must be a column name")
        if spec.template is not None and (not isinstance(spec.template, str) or not spec.sources()):
            raise MapError(f"{where}: a template is text with {{column}} fields, got {spec.template!r}")
        if spec.value is not None and not isinstance(spec.value, (str, int, float)):
            raise MapError(f"{where}: value must be a number or text")
        return spec
    raise MapError(f"{where}: expected a source column name or a table, got {raw!r}")


def load_map(path: str | Path) -> ImportMap:
    """Read and check a column map (TOML)."""
    path = Path(path)
    if not path.is_file():
        raise MapError(f"{path}: no such map file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MapError(f"{path}: not a valid TOML map: {exc}") from None
    return map_from_dict(doc, str(path))


def map_from_dict(doc: dict, where: str = "<map>") -> ImportMap:
    unknown = set(doc) - {"source", "columns", "values", "flags", "decisions", "description", "output"}
    if unknown:
        raise MapError(f"{where}: unknown section(s) {sorted(unknown)}; a map has source, output, columns, "
                       f"values, flags and decisions")
    output = doc.get("output", {})
    if not isinstance(output, dict) or set(output) - {"kind"}:
        raise MapError(f"{where}: [output] is a table with one key, kind = \"decisions\" or \"trust-logs\"")
    if output.get("kind", "decisions") == "trust-logs":
        return trust_map_from_dict(doc, where)
    if output.get("kind", "decisions") != "decisions":
        raise MapError(f"{where} [output] kind: {output.get('kind')!r} is not \"decisions\" or \"trust-logs\"")
    source = doc.get("source", {})
    if not isinstance(source, dict):
        raise MapError(f"{where}: [source] must be a table")
    base = doc.get("columns", {})
    entries = doc.get("decisions") or [{}]
    if not isinstance(base, dict) or not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MapError(f"{where}: [columns] must be a table and [[decisions]] a list of tables")
    decisions = []
    for i, entry in enumerate(entries):
        merged = {**base, **entry}
        label = f"{where} [[decisions]] {i + 1}" if "decisions" in doc else f"{where} [columns]"
        bad = sorted(set(merged) - set(LONG_COLUMNS))
        if bad:
            raise MapError(f"{label}: {bad} are not long-format columns ({', '.join(LONG_COLUMNS)})")
        missing = [c for c in REQUIRED_COLUMNS if c not in merged and c != "action" and c != "state"]
        if missing:
            raise MapError(f"{label}: no source given for {missing}")
        decisions.append({col: _column_spec(raw, f"{label} {col}") for col, raw in merged.items()})
    values = doc.get("values", {})
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise MapError(f"{where}: [values.COLUMN] tables map source values to long-format values")
    bad = sorted(set(values) - set(LONG_COLUMNS))
    if bad:
        raise MapError(f"{where}: [values] names {bad}, which are not long-format columns")
    flags = {}
    for name, text in doc.get("flags", {}).items():
        if name != "timeout":
            raise MapError(f"{where} [flags]: unknown flag {name!r}; the cleaning rules know 'timeout' (a row "
                           f"whose choice is not a real choice)")
        flags[name] = Condition(text, f"{where} [flags] {name}")
    keep = Condition(source["keep"], f"{where} [source] keep") if "keep" in source else None
    fmt = source.get("format")
    if fmt is not None and fmt not in set(_FORMATS.values()) | {"otree-wide"}:
        raise MapError(f"{where} [source] format: {fmt!r} is not one of "
                       f"{sorted(set(_FORMATS.values()) | {'otree-wide'})}")
    app = source.get("app")
    if fmt == "otree-wide" and not app:
        raise MapError(f"{where} [source]: format otree-wide needs app = \"NAME\" (the oTree app's name)")
    return ImportMap(path=where, decisions=decisions, values={k: {str(a): b for a, b in v.items()}
                                                               for k, v in values.items()},
                     keep=keep, flags=flags, fmt=None if fmt == "otree-wide" else fmt,
                     sheet=source.get("sheet"), otree_app=app if fmt == "otree-wide" else None)


# trust logs (:mod:`cheaptalk.data.trust_logs`): the event columns a map of repeated play makes
TRUST_LOG_COLUMNS = ("seller", "subject", "time", "recommendation", "followed", "action", "own_estimate",
                     "fidelity", "truth", "feedback", "segment")


def trust_map_from_dict(doc: dict, where: str) -> ImportMap:
    """A map with ``[output] kind = "trust-logs"`` (:mod:`cheaptalk.data.trust_logs`)."""
    if "decisions" in doc or "flags" in doc:
        raise MapError(f"{where}: [[decisions]] and [flags] belong to maps of decisions; a trust-logs map has "
                       f"[source], [output], [columns] and [values]")
    source = doc.get("source", {})
    columns = doc.get("columns", {})
    values = doc.get("values", {})
    if not isinstance(source, dict) or not isinstance(columns, dict):
        raise MapError(f"{where}: [source] and [columns] must be tables")
    bad = sorted(set(columns) - set(TRUST_LOG_COLUMNS))
    if bad:
        raise MapError(f"{where} [columns]: {bad} are not trust-log columns ({', '.join(TRUST_LOG_COLUMNS)})")
    needed = ["seller", "time", "recommendation", "feedback"]
    missing = [c for c in needed if c not in columns]
    if "followed" not in columns and not {"action", "own_estimate"} <= set(columns):
        missing.append("followed (binary adoption) or action and own_estimate (continuous)")
    if "followed" in columns and "action" in columns:
        raise MapError(f"{where} [columns]: give followed (binary adoption) or action (continuous), not both")
    if "fidelity" not in columns and "truth" not in columns:
        missing.append("fidelity or truth")
    if missing:
        raise MapError(f"{where} [columns]: no source given for {', '.join(missing)}")
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise MapError(f"{where}: [values.COLUMN] tables map source values to trust-log values")
    bad = sorted(set(values) - set(TRUST_LOG_COLUMNS))
    if bad:
        raise MapError(f"{where}: [values] names {bad}, which are not trust-log columns")
    fmt = source.get("format")
    if fmt is not None and fmt not in set(_FORMATS.values()):
        raise MapError(f"{where} [source] format: {fmt!r} is not one of {sorted(set(_FORMATS.values()))}")
    spec = {col: _column_spec(raw, f"{where} [columns] {col}") for col, raw in columns.items()}
    keep = Condition(source["keep"], f"{where} [source] keep") if "keep" in source else None
    return ImportMap(path=where, decisions=[spec], values={k: {str(a): b for a, b in v.items()}
                                                           for k, v in values.items()},
                     keep=keep, fmt=fmt, sheet=source.get("sheet"), output="trust-logs")


# --- applying it ---------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import did with every source row.

    The unit of account is the possible decision: each record (a source row; a participant
    and round of an oTree wide export) can give one decision per ``[[decisions]]`` entry, so
    ``possible = decisions + not imported`` always holds; ``excluded`` lists, per reason, the
    source row of every decision not imported (a row left out by ``keep`` appears once per
    decision it would have given).
    """

    source: str
    map: str
    n_rows: int = 0
    n_imported_rows: int = 0
    n_decisions: int = 0
    n_possible: int = 0                              # records x decisions per record
    decisions_per_record: int = 1
    records: str = "rows"                            # what one record is ("participant-rounds" for oTree)
    excluded: dict = field(default_factory=dict)     # reason -> list of 1-based source rows

    @property
    def n_excluded(self) -> int:
        return sum(len(v) for v in self.excluded.values())

    def exclude(self, reason: str, rows) -> None:
        rows = [int(r) for r in rows]
        if rows:
            self.excluded.setdefault(reason, []).extend(rows)

    def to_dict(self) -> dict:
        return {"source": self.source, "map": self.map, "rows": self.n_rows, "imported_rows": self.n_imported_rows,
                "possible_decisions": self.n_possible, "decisions_per_record": self.decisions_per_record,
                "decisions": self.n_decisions, "not_imported": self.n_excluded,
                "excluded": {k: len(v) for k, v in self.excluded.items()},
                "excluded_rows": {k: _unique(v)[:20] for k, v in self.excluded.items()}}

    def __str__(self) -> str:
        simple = self.decisions_per_record == 1 and self.records == "rows"
        if simple:      # one decision per row: rows and decisions are the same count
            head = (f"{self.n_rows} rows, {self.n_imported_rows} imported as {self.n_decisions} decisions, "
                    f"{self.n_excluded} not imported")
        else:
            per = f" x {self.decisions_per_record} decisions" if self.decisions_per_record > 1 else ""
            n_records = self.n_possible // self.decisions_per_record
            records = f" ({n_records} {self.records})" if self.records != "rows" else ""
            head = (f"{self.n_rows} rows{records}{per} = {self.n_possible} possible decisions: {self.n_decisions} "
                    f"imported (from {self.n_imported_rows} rows), {self.n_excluded} not imported")
        lines = [f"import {self.source} with map {self.map}: {head}"]
        for reason, rows in self.excluded.items():
            unique = _unique(rows)
            shown = ", ".join(str(r) for r in unique[:5]) + (", ..." if len(unique) > 5 else "")
            lines.append(f"  not imported: {len(rows):>6}  {reason} (rows {shown})")
        return "\n".join(lines)


def _unique(rows: list) -> list:
    return sorted(set(rows))


def import_table(frame: pd.DataFrame, spec: ImportMap, source: str = "data") -> tuple[pd.DataFrame, ImportReport]:
    """Apply a map to a source table: long-format decisions and the report of every row.

    Row numbers are 1-based data rows of the source (oTree wide exports: the participant's row).
    """
    if spec.otree_app:
        frame = otree_wide_to_rounds(frame, spec.otree_app, source)
        rows = frame.pop("_source_row").to_numpy()
    else:
        frame = frame.reset_index(drop=True)
        rows = np.arange(1, len(frame) + 1)
    frame.columns = [str(c) for c in frame.columns]
    per_record = len(spec.decisions)
    report = ImportReport(source=source, map=spec.path, n_rows=int(len(set(rows.tolist()))),
                          n_possible=len(frame) * per_record, decisions_per_record=per_record,
                          records="participant-rounds" if spec.otree_app else "rows")
    keep = kept_rows(frame, spec, source, report, rows, per_record)
    flags = {name: cond(frame) for name, cond in spec.flags.items()}
    pieces = []
    for d in spec.decisions:
        piece = pd.DataFrame(index=frame.index)
        for col, cs in d.items():
            piece[col] = cs.build(frame)
        piece["_row"] = rows
        piece["_keep"] = keep
        for name, mask in flags.items():
            piece[name] = np.where(mask, 1, piece[name] if name in piece else 0)
        pieces.append((d, piece))
    out = []
    for d, piece in pieces:
        piece = _map_values(piece[piece["_keep"]].copy(), spec, report, ["role"])
        # columns that exist for some roles only are blank on the others' rows (before their
        # values are mapped: what another role's row holds there is not a decision)
        role = piece["role"].astype(str)
        for col, cs in d.items():
            if set(cs.roles) != set(ROLES):
                piece.loc[~role.isin(cs.roles), col] = np.nan
        out.append(_map_values(piece, spec, report, [c for c in spec.values if c != "role"]))
    result = pd.concat(out, ignore_index=True)
    bad_role = ~result["role"].astype(str).isin(ROLES)
    if bad_role.any():
        examples = sorted(set(result.loc[bad_role, "role"].astype(str)))[:5]
        report.exclude(f"role {examples} is not sender or receiver (map it in [values.role])",
                       result.loc[bad_role, "_row"])
        result = result[~bad_role]
    for col in ("state", "action"):
        if col not in result:
            result[col] = np.nan
    for col in ("subject", "role", "session", "pair", "treatment"):
        if col in result:
            result[col] = result[col].astype(str)
    if "timeout" in result:
        # a flagged row's choice is a code, not a choice ("delegated"): it becomes missing,
        # and the cleaning rules count the row as not a real decision
        flagged = pd.to_numeric(result["timeout"], errors="coerce").fillna(0).to_numpy() > 0
        for col in ("message", "action"):
            if col in result:
                result.loc[flagged & pd.to_numeric(result[col], errors="coerce").isna().to_numpy(), col] = np.nan
    for col in ("round", "state", "message", "action", "timeout"):
        if col in result:
            result[col] = numeric_column(result[col], result["_row"], col, source)
    report.n_imported_rows = int(result["_row"].nunique())
    report.n_decisions = int(len(result))
    columns = [c for c in LONG_COLUMNS if c in result.columns]
    return result[columns].reset_index(drop=True), report


def kept_rows(frame: pd.DataFrame, spec: ImportMap, source: str, report: ImportReport, rows,
              per_record: int = 1) -> np.ndarray:
    """The rows the map keeps (its ``[source] keep`` condition; the others are counted in
    ``report``, once per decision they would have given), after checking that the source has
    every column the map names."""
    missing = sorted(spec.source_columns() - set(frame.columns))
    if missing:
        raise MapError(f"{spec.path}: names column(s) {missing} that {source} does not have; it has "
                       f"{list(frame.columns)[:40]}{' ...' if frame.shape[1] > 40 else ''}")
    if spec.keep is None:
        return np.ones(len(frame), bool)
    kept = spec.keep(frame)
    if len(frame) and not kept.any():
        raise MapError(f"{spec.path}: [source] keep = {spec.keep.text!r} keeps none of the {len(frame)} rows of "
                       f"{source}; check its column names, values and quotes (text values need quotes)")
    report.exclude(f"not kept by the map's condition ({spec.keep.text})", np.repeat(rows[~kept], per_record))
    return kept


def _map_values(piece: pd.DataFrame, spec: ImportMap, report: ImportReport, columns) -> pd.DataFrame:
    for col in columns:
        table = spec.values.get(col)
        if table is None or col not in piece:
            continue
        raw = piece[col]
        text = raw.astype(str)
        blank = raw.isna() | (text.str.strip() == "")
        known = text.isin(table.keys())
        unmapped = ~known & ~blank
        if unmapped.any():
            examples = sorted(set(text[unmapped].tolist()))[:5]
            report.exclude(f"{col}: value(s) {examples} have no entry in [values.{col}]", piece.loc[unmapped, "_row"])
            piece = piece[~unmapped].copy()
            text, blank = text[~unmapped], blank[~unmapped]
        piece[col] = np.where(blank, None, text.map(table)).astype(object)
    return piece


def numeric_column(series: pd.Series, rows: pd.Series, col: str, source: str) -> pd.Series:
    """Numbers where the long format needs them; blanks become missing, anything else is an error."""
    text = series.astype(object)
    blank = text.isna() | text.astype(str).str.strip().isin(["", "nan", "NaN", "None", "NA"])
    values = pd.to_numeric(text.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(f"{source}: row {int(rows.iloc[i])}, column {col!r} of the long format: "
                              f"{_short(text.iloc[i])!r} is not a number; {int(bad.sum())} such value(s) (map them in "
                              f"[values.{col}] or leave their rows out with [source] keep)")
    values = values.astype(float)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise DataFormatError(f"{source}: row {int(rows.iloc[i])}, column {col!r} of the long format: "
                              f"{_short(text.iloc[i])!r} is not a finite number; {int(infinite.sum())} such value(s) "
                              f"(map them in [values.{col}] or leave their rows out with [source] keep)")
    finite = values.dropna()
    if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2 ** 53):
        return values.astype("Int64")          # whole numbers stay whole in the output file
    return values
