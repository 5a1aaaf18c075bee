"""Cheap-talk games: G1 forecast sharing and G2 finite sender-receiver games.

The names below are imported on first use (the distributions import SciPy's statistics,
which takes about a second), so that commands that never build a game start quickly.
"""

from importlib import import_module

from .catalog import PRESETS

_EXPORTS = {"SumDistribution": "distributions", "TruncatedNormal": "distributions",
            "Uniform": "distributions", "FiniteGame": "finite", "ForecastGame": "forecast",
            "Formula": "formulas", "FormulaError": "formulas", "GameFileError": "loader",
            "GameSpec": "loader", "game_from_dict": "loader", "load_game": "loader"}

__all__ = ["ForecastGame", "FiniteGame", "GameSpec", "load_game", "game_from_dict", "PRESETS",
           "GameFileError", "Formula", "FormulaError", "Uniform", "TruncatedNormal", "SumDistribution"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
