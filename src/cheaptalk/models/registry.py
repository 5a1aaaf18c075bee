"""Model names used on the command line and in results, mapped to classes per game kind.

Adding a model means writing its class in one file and listing it here.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import UnknownName
from ..games import GameSpec

__all__ = ["MODEL_NAMES", "get_model", "model_class", "model_kinds"]

# name -> {game kind: "module:Class"}; imported lazily so that `--help` stays fast
_REGISTRY = {
    "equilibrium": {"forecast": "forecast_standard:ForecastEquilibrium",
                    "finite": "finite_standard:FiniteEquilibrium"},
    "qre": {"finite": "finite_standard:FiniteQRE"},
    "levelk": {"forecast": "forecast_levelk:ForecastLevelK",
               "finite": "finite_levelk:FiniteLevelK"},
    "ch": {"forecast": "forecast_levelk:ForecastCognitiveHierarchy",
           "finite": "finite_levelk:FiniteCognitiveHierarchy"},
    "trust": {"forecast": "forecast_trust:ForecastTrust",
              "finite": "finite_trust:FiniteTrust"},
    "mixture": {"forecast": "mixture:ForecastMixture", "finite": "mixture:FiniteMixture"},
}

MODEL_NAMES = tuple(_REGISTRY)


def model_class(name: str, kind: str):
    if name not in _REGISTRY:
        raise UnknownName(f"unknown model {name!r}; models are {', '.join(MODEL_NAMES)}")
    where = _REGISTRY[name].get(kind)
    if where is None:
        kinds = ", ".join(_REGISTRY[name])
        raise UnknownName(f"model {name!r} is defined for {kinds} games, not {kind} games")
    module, cls = where.split(":")
    return getattr(import_module(f"cheaptalk.models.{module}"), cls)


def model_kinds(name: str) -> tuple:
    """The kinds of game (``forecast``, ``finite``) model ``name`` is defined for."""
    return tuple(_REGISTRY.get(name, {}))


def get_model(name: str, game: GameSpec, **options):
    """Instantiate model ``name`` on ``game`` (a :class:`~cheaptalk.games.GameSpec`).

    ``options`` (text as on the command line, or Python values) are checked against the
    model's :meth:`~cheaptalk.models.base.Model.option_specs`; defaults fill the rest.
    """
    cls = model_class(name, game.kind)
    return cls(game, **cls.parse_options(options))
