"""What every behavioural model is: parameters, predict, simulate, log-likelihood.

A model maps a game and parameters to the conditional distribution of the sender's
message given the state and of the receiver's action given the message. Heterogeneity is
a finite set of *types* per role (quadrature nodes of trust, levels of reasoning, families
in a mixture) with probabilities that depend on the parameters; a subject keeps one type
for all her rounds. The likelihood is therefore built from two pieces a model supplies::

    components(theta, prepared) -> {role: RoleComponents(log_weights[T], logf[N_role, T])}

``logf[d, t]`` is the log density (or probability) of decision ``d`` given type ``t``;
``log_weights[t]`` the log probability of type ``t``. Panel and per-decision
likelihoods, posteriors and gradients are computed from them generically
(:mod:`cheaptalk.models.likelihood`), so a new model only writes its behaviour.

``components`` is written in ``jax.numpy`` so that exact gradients come from automatic
differentiation; everything that does not depend on ``theta`` is computed once in
``prepare``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ModelError, OptionError, ParameterError
from .. import _jax  # noqa: F401  (enables 64-bit floats before any jax array exists)
from ..games import GameSpec

__all__ = ["Parameter", "Model", "RoleComponents", "Prediction", "ParameterError", "Option", "OptionError"]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Option:
    """A model option: a choice fixed before estimation (not a parameter), e.g. the error
    model, the maximum level or the shape of the lying cost.

    ``kind`` is ``"choice"`` (one of ``allowed``), ``"choices"`` (a comma-separated list of
    distinct values from ``allowed``), ``"bool"``, ``"int"`` or ``"float"`` (at least
    ``minimum`` and at most ``maximum``; a ``None`` default means "chosen by the model", as its
    description says). A number that sizes work (nodes, levels, iterations) has a ``maximum``,
    so that a typo cannot ask for hours of computing or gigabytes of memory.
    """

    name: str
    default: object
    kind: str
    description: str
    allowed: tuple = ()
    minimum: int | None = None
    maximum: int | float | None = None

    def _range(self) -> str:
        if self.maximum is None:
            return f">= {self.minimum}"
        return f"from {self.minimum} to {self.maximum}"

    def _in_range(self, number) -> bool:
        return ((self.minimum is None or number >= self.minimum)
                and (self.maximum is None or number <= self.maximum))

    def parse(self, value, model: str = ""):
        """The option's value from text (command line) or a Python value; clear error if not allowed."""
        where = f"option {self.name}" + (f" of model {model!r}" if model else "")
        if value is None and self.default is None:
            return None          # "chosen by the model"
        text = value.strip() if isinstance(value, str) else value
        if self.kind == "bool":
            if isinstance(text, bool):
                return text
            if str(text).lower() in _TRUE:
                return True
            if str(text).lower() in _FALSE:
                return False
            raise OptionError(f"{where}: {value!r} is not true or false")
        if self.kind == "int":
            number = text
            if isinstance(text, str) and len(text) <= 30:
                try:
                    number = int(text)
                except ValueError:
                    pass
            if isinstance(text, str) and len(text) > 30 and text.lstrip("+-").isdigit():
                raise OptionError(f"{where}: {_short(value)} must be a whole number {self._range()}")
            whole = isinstance(number, int) or (isinstance(number, float) and np.isfinite(number)
                                                and number == int(number))
            if isinstance(number, bool) or not whole:
                raise OptionError(f"{where}: {_short(value)} is not a whole number")
            if not self._in_range(number):
                raise OptionError(f"{where}: {_short(value)} must be a whole number {self._range()}")
            return int(number)
        if self.kind == "float":
            try:
                if isinstance(text, bool):
                    raise ValueError
                number = float(text)
            except (TypeError, ValueError, OverflowError):
                raise OptionError(f"{where}: {_short(value)} is not a number") from None
            if not np.isfinite(number) or not self._in_range(number):
                raise OptionError(f"{where}: {_short(value)} must be a finite number {self._range()}")
            return number
        if self.kind == "choice":
            if text not in self.allowed:
                raise OptionError(f"{where}: {value!r} is not one of {', '.join(map(str, self.allowed))}")
            return text
        if self.kind == "choices":
            items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
            bad = [t for t in items if t not in self.allowed]
            if bad or not items or len(set(items)) != len(items):
                raise OptionError(f"{where}: {value!r} must be distinct values from "
                                  f"{', '.join(map(str, self.allowed))}, separated by commas")
            return tuple(items)
        raise OptionError(f"{where}: unknown option kind {self.kind!r}")  # pragma: no cover

    def as_dict(self) -> dict:
        out = {"default": list(self.default) if isinstance(self.default, tuple) else self.default,
               "kind": self.kind, "description": self.description}
        if self.allowed:
            out["allowed"] = list(self.allowed)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


def _short(value, width: int = 30) -> str:
    """A value as an error message shows it: at most ``width`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return "a number of more than 30 digits"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[:width] + "..."



@dataclass(frozen=True)
class Parameter:
    name: str
    default: float
    lower: float
    upper: float
    description: str

    def as_dict(self) -> dict:
        return {"default": self.default, "lower": self.lower, "upper": self.upper,
                "description": self.description}


class RoleComponents(NamedTuple):
    log_weights: object   # (T,) log type probabilities
    logf: object          # (N_role, T) log density of each decision under each type


@dataclass
class Prediction:
    """What a model predicts: tables by treatment plus welfare, printable and JSON-able."""

    model: str
    game: str
    params: dict
    tables: dict = field(default_factory=dict)     # name -> DataFrame
    summary: dict = field(default_factory=dict)    # treatment -> {name: number}
    options: dict = field(default_factory=dict)    # the model's options (error model, ...)

    def to_dict(self) -> dict:
        return {"model": self.model, "game": self.game, "options": self.options, "params": self.params,
                "summary": self.summary,
                "tables": {k: v.to_dict(orient="list") for k, v in self.tables.items()}}

    def __str__(self) -> str:
        lines = [f"{self.model} on {self.game}",
                 "options: " + ", ".join(f"{k}={v}" for k, v in self.options.items()),
                 "parameters: " + ", ".join(f"{k}={v:g}" for k, v in self.params.items())]
        if self.summary:
            lines.append(pd.DataFrame(self.summary).to_string(float_format=lambda v: f"{v:.4g}"))
        for name, table in self.tables.items():
            lines.append(f"\n{name}\n{table.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
        return "\n".join(lines)


class Model(ABC):
    """Base class of every behavioural model on one game.

    Subclasses set ``name`` and ``game_kind`` and implement :meth:`parameters`,
    :meth:`predict`, :meth:`simulate`, :meth:`prepare` and :meth:`components`.
    """

    name: str = ""
    game_kind: str = ""          # "forecast" or "finite"
    description: str = ""

    def __getstate__(self):
        # compiled functions (attributes named _compiled...) are caches: made again on use
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_compiled")}

    def __init__(self, game: GameSpec, **options):
        if game.kind != self.game_kind:
            raise ModelError(f"model {self.name!r} ({type(self).__name__}) is for {self.game_kind} games, "
                             f"not the {game.kind} game {game.name!r}")
        self.game = game
        self.options = options

    @classmethod
    def option_specs(cls) -> list[Option]:
        """The options this model takes (see :class:`Option`); subclasses extend the list."""
        return []

    @classmethod
    def parse_options(cls, given: dict) -> dict:
        """Validated option values (text or Python values) with defaults filled in; unknown
        names and values that are not allowed raise :class:`OptionError`."""
        specs = {o.name: o for o in cls.option_specs()}
        unknown = sorted(set(given) - set(specs))
        if unknown:
            raise OptionError(f"model {cls.name!r} has no option {', '.join(map(repr, unknown))}; "
                              f"its options are {', '.join(specs) or 'none'}")
        return {name: (spec.parse(given[name], cls.name) if name in given else spec.default)
                for name, spec in specs.items()}

    # --- parameters ----------------------------------------------------------------
    @abstractmethod
    def parameters(self) -> list[Parameter]:
        """The model's parameters in the order of the vector ``theta``."""

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.parameters()]

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.parameters()}

    def bounds(self) -> list[tuple[float, float]]:
        return [(p.lower, p.upper) for p in self.parameters()]

    def resolve(self, params: dict | None = None) -> dict:
        """Defaults overridden by ``params``; rejects unknown names and values out of bounds."""
        out = self.defaults()
        specs = {p.name: p for p in self.parameters()}
        for k, v in (params or {}).items():
            if k not in specs:
                raise ParameterError(f"model {self.name!r} has no parameter {k!r}; it has {list(specs)}")
            v = float(v)
            p = specs[k]
            if not (p.lower <= v <= p.upper):
                raise ParameterError(f"{k}={v:g} is outside its bounds [{p.lower:g}, {p.upper:g}]")
            out[k] = v
        return out

    def to_vector(self, params: dict | None = None) -> np.ndarray:
        full = self.resolve(params)
        return np.array([full[n] for n in self.param_names], dtype=float)

    def to_dict(self, theta) -> dict:
        return {n: float(v) for n, v in zip(self.param_names, np.asarray(theta, float))}

    # --- the three abilities --------------------------------------------------------
    @abstractmethod
    def predict(self, params: dict | None = None) -> Prediction:
        """Deterministic predictions by treatment (schedules, profits, efficiency)."""

    @abstractmethod
    def simulate(self, params: dict | None, n_subjects: int, n_rounds: int,
                 seed: int | None = None, treatments: list[str] | None = None) -> pd.DataFrame:
        """Simulated decisions in the long format; ``n_subjects`` per role and treatment."""

    @abstractmethod
    def prepare(self, data: pd.DataFrame):
        """Precompute everything in the likelihood that does not depend on ``theta``.

        ``data`` is a clean long-format frame (see :mod:`cheaptalk.data`); the returned
        object must carry ``prepared.roles = split_roles(data)``
        (:func:`cheaptalk.models.likelihood.split_roles`): the decisions of each role with
        integer subject codes, in the row order of ``components``' ``logf``.
        """

    @abstractmethod
    def components(self, theta, prepared) -> dict:
        """``{role: RoleComponents}`` as ``jax.numpy`` arrays (differentiable in ``theta``)."""

    def type_attributes(self) -> dict:
        """``{role: {attribute: array over types}}``: what each type *is*, in the order of
        ``components``' type axis (e.g. ``{"receiver": {"trust": nodes}}`` or
        ``{"sender": {"level": [0, 1]}}``). Posterior means of these attributes give each
        subject's estimated trust, trustworthiness or level. Attributes a type lacks are NaN."""
        return {}

    def recorded_options(self) -> dict:
        """The options as they go into outputs (JSON-able; per-family tables of a mixture left out)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()
                if not isinstance(v, dict)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(game={self.game.name!r})"
