"""Reading games from preset names and TOML game files.

A game file has a base game and optional ``[treatments.NAME]`` tables; each treatment is
deep-merged over the base, so it states only what differs (for example
``parameters = { c = 0.5 }``). See ``docs/game-files.md`` and the presets in
``cheaptalk/games/presets/``.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import GameFileError, UnknownName
from .catalog import PRESETS
from .distributions import make_distribution
from .finite import FiniteGame
from .forecast import ForecastGame
from .formulas import Formula, FormulaError

__all__ = ["GameSpec", "GameFileError", "load_game", "game_from_dict", "PRESETS"]


MAX_GAME_FILE_BYTES = 1_000_000
# Sizes are checked before anything is allocated. A finite game's tables hold
# states x messages x actions numbers per role (and a model multiplies them by its types);
# set CHEAPTALK_MAX_GAME_CELLS to allow larger games on a machine with the memory.
MAX_GAME_CELLS = 2_000_000
MAX_GRID_POINTS = 100_001
MAX_TREATMENTS = 1000


def _max_game_cells() -> int:
    try:
        return int(float(os.environ.get("CHEAPTALK_MAX_GAME_CELLS", MAX_GAME_CELLS)))
    except ValueError:
        raise GameFileError(f"CHEAPTALK_MAX_GAME_CELLS={os.environ['CHEAPTALK_MAX_GAME_CELLS']!r} is not a number") from None


@dataclass
class GameSpec:
    """A game with its treatments, as read from a preset or a game file."""

    name: str
    kind: str
    treatments: dict = field(default_factory=dict)   # treatment name -> ForecastGame | FiniteGame
    descriptions: dict = field(default_factory=dict)
    source: str = ""
    document: dict = field(default_factory=dict, repr=False)

    def game(self, treatment: str | None = None):
        """The game of one treatment (the first one if none is named)."""
        if treatment is None:
            return next(iter(self.treatments.values()))
        try:
            return self.treatments[str(treatment)]
        except KeyError:
            raise UnknownName(f"game {self.name!r} ({self.source}) has no treatment {treatment!r}; "
                           f"it has {list(self.treatments)}") from None

    def with_constants(self, **values) -> "GameSpec":
        """The same game with some constants or parameters replaced in every treatment."""
        doc = copy.deepcopy(self.document)
        section = "constants" if self.kind == "finite" else "parameters"
        doc.setdefault(section, {}).update(values)
        for t in doc.get("treatments", {}).values():
            if section in t:
                t[section].update(values)
        return game_from_dict(doc, source=self.source)


def load_game(name_or_path: str | Path) -> GameSpec:
    """Load a preset by name (``forecast-sharing``, ``crawford-sobel``, ``monotone``) or a TOML file."""
    text = str(name_or_path)
    if text in PRESETS:
        data = resources.files("cheaptalk.games.presets").joinpath(f"{text}.toml").read_text()
        source = f"preset {text}"
    else:
        path = Path(text)
        if not path.exists():
            raise GameFileError(f"{text}: no such game file, and not a preset (presets: {', '.join(PRESETS)})")
        if path.is_dir():
            raise GameFileError(f"{text}: is a folder, not a game file")
        if not path.is_file():
            raise GameFileError(f"{text}: not a regular file (a device or a pipe), not a game file")
        if path.stat().st_size > MAX_GAME_FILE_BYTES:
            raise GameFileError(f"{text}: {path.stat().st_size} bytes is too large for a game file "
                                f"(the limit is {MAX_GAME_FILE_BYTES})")
        try:
            data = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise GameFileError(f"{text}: cannot be read as a UTF-8 text file: {exc}") from None
        source = str(path)
    try:
        doc = tomllib.loads(data)
    except tomllib.TOMLDecodeError as exc:
        raise GameFileError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise GameFileError(f"{source}: not valid TOML: nested too deep") from None
    return game_from_dict(doc, source=source)


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# What a game file may hold, section by section: a key not listed here is a typo or a
# misunderstanding, and is refused rather than ignored. Leaves: "number", "text", "list"
# (of numbers, checked where it is read), "formula or array" (payoffs), "table" (any keys,
# checked where it is read).
_DISTRIBUTION = {"distribution": "text", "low": "number", "high": "number", "half_width": "number",
                 "mean": "number", "sd": "number"}
_SECTIONS = {
    "forecast": {"description": "text",
                 "parameters": {"r": "number", "w": "number", "c": "number"},
                 "forecast": _DISTRIBUTION, "noise": _DISTRIBUTION,
                 "messages": {"low": "number", "high": "number"}},
    "finite": {"description": "text", "constants": "table",
               "states": {"values": "list", "prior": "list", "prior_weights": "list"},
               "messages": {"meanings": "list", "labels": "list"},
               "actions": {"values": "list", "grid": {"start": "number", "stop": "number", "step": "number",
                                                      "num": "number"}},
               "payoffs": {"sender": "formula or array", "receiver": "formula or array"}},
}


def _check_keys(doc: dict, spec: dict, source: str, path: tuple = ()) -> None:
    """Refuse keys the game format does not have and values of the wrong kind, naming them
    (``path``: the tables above ``doc``, e.g. ``("treatments", "HC", "actions")``)."""
    where = f"{source} [{'.'.join(path)}]" if path else source
    for key, value in doc.items():
        if key not in spec:
            raise GameFileError(f"{where}: unknown key {key!r}; allowed here: {', '.join(spec)}")
        want, at = spec[key], f"{where} {key}"
        if isinstance(want, dict):
            if key == "grid" and isinstance(value, list):       # actions.grid may list the values
                continue
            if not isinstance(value, dict):
                raise GameFileError(f"{at}: must be a table ({{ ... }} or [section]), got {_shown(value)}")
            _check_keys(value, want, source, path + (key,))
        elif want == "number":
            _number(value, key, where)
        elif want == "text" and not isinstance(value, str):
            raise GameFileError(f"{at}: must be text, got {_shown(value)}")
        elif want in ("list", "table") and not isinstance(value, list if want == "list" else dict):
            raise GameFileError(f"{at}: must be a {want}, got {_shown(value)}")
        elif want == "formula or array" and not isinstance(value, (str, list)):
            raise GameFileError(f"{at}: must be a formula (text) or an array of numbers, got {_shown(value)}")


def _shown(value, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width] + "..."


def game_from_dict(doc: dict, source: str = "<dict>") -> GameSpec:
    """Build a :class:`GameSpec` from a parsed game document."""
    kind = doc.get("kind")
    if kind not in ("forecast", "finite"):
        raise GameFileError(f"{source}: 'kind' must be \"forecast\" or \"finite\", got {_shown(kind)}")
    top = {"name": "text", "kind": "text", "treatments": "table", **_SECTIONS[kind]}
    _check_keys(doc, top, source)
    name = str(doc.get("name", Path(source).stem))
    base = {k: v for k, v in doc.items() if k != "treatments"}
    raw_treatments = doc.get("treatments") or {"default": {}}
    if not isinstance(raw_treatments, dict):
        raise GameFileError(f"{source}: 'treatments' must be a table of tables")
    if len(raw_treatments) > MAX_TREATMENTS:
        raise GameFileError(f"{source}: {len(raw_treatments)} treatments exceed the limit of {MAX_TREATMENTS}")
    for tname, over in raw_treatments.items():
        if not isinstance(over, dict):
            raise GameFileError(f"{source} [treatments.{tname}]: a treatment must be a table (what differs from "
                                f"the base game), got {_shown(over)}")
        _check_keys(over, _SECTIONS[kind], source, ("treatments", str(tname)))
    build = _build_forecast if kind == "forecast" else _build_finite
    treatments, descriptions = {}, {}
    for tname, over in raw_treatments.items():
        merged = _merge(base, over)
        where = f"{source} [treatments.{tname}]" if "treatments" in doc else source
        try:
            treatments[str(tname)] = build(merged, name=name, treatment=str(tname), where=where)
        except (GameFileError, FormulaError):
            raise
        except (ValueError, TypeError, KeyError, OverflowError, ZeroDivisionError, IndexError, AttributeError) as exc:
            message = str(exc)          # (a message that already names its place keeps it)
            raise GameFileError(message if message.startswith(source) else f"{where}: {message}") from None
        descriptions[str(tname)] = str(over.get("description", merged.get("description", "")))
    return GameSpec(name=name, kind=kind, treatments=treatments, descriptions=descriptions,
                    source=source, document=doc)


def _build_forecast(d: dict, *, name: str, treatment: str, where: str) -> ForecastGame:
    params = d.get("parameters", {})
    unknown = set(params) - {"r", "w", "c"}
    if unknown:
        raise GameFileError(f"{where}: unknown parameters {sorted(unknown)} (allowed: r, w, c)")
    forecast = make_distribution(d.get("forecast", {}), where=f"{where} [forecast]",
                                 default_low=50.0, default_high=250.0)
    noise = make_distribution(d.get("noise", {"half_width": 20}), where=f"{where} [noise]")
    msg = d.get("messages", {})
    return ForecastGame(r=float(params.get("r", 1.0)), w=float(params.get("w", 0.75)),
                        c=float(params.get("c", 0.25)), forecast=forecast, noise=noise,
                        message_low=msg.get("low"), message_high=msg.get("high"),
                        name=name, treatment=treatment)


def _number(value, what: str, where: str) -> float:
    """A finite number from a game file (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GameFileError(f"{where}: {what} must be a number, got {_shown(value)}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x) or abs(x) > 1e12:
        raise GameFileError(f"{where}: {what} must be a finite number of at most 1e12 in size, got {_shown(value)}")
    return x


def _values(spec, what: str, where: str) -> np.ndarray:
    if not isinstance(spec, list):
        raise GameFileError(f"{where}: {what} must be a list of numbers, got {spec!r}")
    if len(spec) > MAX_GRID_POINTS:
        raise GameFileError(f"{where}: {len(spec)} {what} exceed the limit of {MAX_GRID_POINTS}")
    values = np.array([_number(v, what, where) for v in spec], float)
    if len(np.unique(values)) != len(values):
        raise GameFileError(f"{where}: {what} must be distinct, got {spec!r}")
    return values


def _grid(spec, where: str) -> np.ndarray:
    if isinstance(spec, dict):
        if "start" not in spec or "stop" not in spec or ("step" not in spec and "num" not in spec):
            raise GameFileError(f"{where}: a grid needs start, stop and step or num")
        start, stop = _number(spec["start"], "start", where), _number(spec["stop"], "stop", where)
        if "step" in spec:
            step = _number(spec["step"], "step", where)
            if step <= 0:
                raise GameFileError(f"{where}: step must be positive, got {spec['step']!r}")
            n = (stop - start) / step + 1
        else:
            n = _number(spec["num"], "num", where)
        if not stop > start or not n >= 2:
            raise GameFileError(f"{where}: a grid needs stop > start and at least 2 points")
        if n > MAX_GRID_POINTS:
            raise GameFileError(f"{where}: a grid of {n:.3g} points exceeds the limit of {MAX_GRID_POINTS} "
                                f"(a coarser step?)")
        return np.linspace(start, stop, int(round(n)))
    return _values(spec, "values", where)


def _build_finite(d: dict, *, name: str, treatment: str, where: str) -> FiniteGame:
    if not isinstance(d.get("constants", {}), dict):
        raise GameFileError(f"{where}: [constants] must be a table of numbers")
    constants = {k: _number(v, f"constant {k!r}", f"{where} [constants]") for k, v in d.get("constants", {}).items()}
    reserved = {"s", "a", "m"} & set(constants)
    if reserved:
        raise GameFileError(f"{where}: constants may not be named {sorted(reserved)}")
    st = d.get("states")
    if not st or "values" not in st:
        raise GameFileError(f"{where}: [states] needs 'values'")
    states = _values(st["values"], "state values", f"{where} [states]")
    if len(states) < 2:
        raise GameFileError(f"{where} [states]: a game needs at least two states (values), got {len(states)}")
    if "prior" in st and "prior_weights" in st:
        raise GameFileError(f"{where} [states]: give 'prior' or 'prior_weights', not both")
    if "prior_weights" in st:
        # relative frequencies (e.g. counts of the states drawn in an experiment), normalized here
        weights = np.array([_number(v, "prior_weights", f"{where} [states]") for v in st["prior_weights"]]
                           if isinstance(st["prior_weights"], list) else [])
        if weights.shape != states.shape or np.any(weights < 0) or not weights.sum() > 0:
            raise GameFileError(f"{where} [states]: prior_weights must be {len(states)} non-negative numbers "
                                f"with a positive sum, got {st['prior_weights']!r}")
        prior = weights / weights.sum()
    else:
        prior = (np.array([_number(v, "prior", f"{where} [states]") for v in st["prior"]])
                 if isinstance(st.get("prior"), list) else np.full(len(states), 1.0 / len(states)))
    if prior.shape != states.shape or not np.all(prior > 0):
        raise GameFileError(f"{where} [states]: every state needs a positive prior probability ({len(states)} "
                            f"numbers; leave out states that cannot occur), got {prior.tolist()}")
    msg = d.get("messages", {})
    meaning_values = (_values(msg["meanings"], "meanings", f"{where} [messages]") if "meanings" in msg
                      else states)
    if len(meaning_values) == 0:
        raise GameFileError(f"{where} [messages]: a finite game needs at least one message")
    labels = msg.get("labels", ())
    if labels and (not isinstance(labels, list) or len(labels) != len(meaning_values)):
        raise GameFileError(f"{where} [messages]: labels must be a list of {len(meaning_values)} names, one per "
                            f"message, got {labels!r}")
    meanings = []
    for v in meaning_values:
        hit = np.flatnonzero(np.isclose(states, v))
        if hit.size == 0:
            raise GameFileError(f"{where} [messages]: meaning {v:g} is not a state {states.tolist()}")
        meanings.append(int(hit[0]))
    act = d.get("actions")
    if not act:
        raise GameFileError(f"{where}: [actions] needs 'values' or 'grid'")
    actions = _grid(act.get("values", act.get("grid")), f"{where} [actions]")
    pay = d.get("payoffs", {})
    S, M, A = len(states), len(meanings), len(actions)
    if S * M * A > _max_game_cells():
        raise GameFileError(f"{where}: {S} states x {M} messages x {A} actions = {S * M * A:,} payoff cells exceed "
                            f"the limit of {_max_game_cells():,} (set CHEAPTALK_MAX_GAME_CELLS to allow more)")
    s = states[:, None, None]
    m = states[np.asarray(meanings)][None, :, None]
    a = actions[None, None, :]
    arrays = {}
    for role in ("sender", "receiver"):
        if role not in pay:
            raise GameFileError(f"{where} [payoffs]: '{role}' is missing")
        spec = pay[role]
        if isinstance(spec, str):
            f = Formula(spec, variables={"s", "a", "m"}, constants=constants,
                        where=f"{where} [payoffs] {role}")
            arrays[role] = np.broadcast_to(f(s=s, a=a, m=m), (S, M, A))
        else:
            try:
                arr = np.asarray(spec, float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or not np.all(np.isfinite(arr)) or (arr.size and np.abs(arr).max() > 1e12):
                raise GameFileError(f"{where} [payoffs] {role}: an array of payoffs must be a rectangular table of "
                                    f"finite numbers (rows of equal length), got {_shown(spec)}")
            if arr.shape == (S, A):
                arr = arr[:, None, :]
            if arr.shape not in ((S, 1, A), (S, M, A)):
                raise GameFileError(f"{where} [payoffs] {role}: array must have shape "
                                    f"(states, actions)=({S}, {A}) or (states, messages, actions), got {arr.shape}")
            arrays[role] = arr
    return FiniteGame(states=states, prior=prior, meanings=np.asarray(meanings), actions=actions,
                      sender_payoff=arrays["sender"], receiver_payoff=arrays["receiver"],
                      message_labels=tuple(msg.get("labels", ())), name=name, treatment=treatment)
