"""Cheap-talk games: G1 forecast sharing and G2 finite sender-receiver games.

The names below are imported on first use (the distributions import SciPy's statistics,
which takes about a second), so that commands that never build a game start quickly.
"""

from .._lazy import lazy_exports
from .catalog import PRESETS

_EXPORTS = {"SumDistribution": "distributions", "TruncatedNormal": "distributions",
            "Uniform": "distributions", "FiniteGame": "finite", "ForecastGame": "forecast",
            "Formula": "formulas", "FormulaError": "formulas", "GameFileError": "loader",
            "GameSpec": "loader", "game_from_dict": "loader", "load_game": "loader"}

__all__ = ["ForecastGame", "FiniteGame", "GameSpec", "load_game", "game_from_dict", "PRESETS",
           "GameFileError", "Formula", "FormulaError", "Uniform", "TruncatedNormal", "SumDistribution"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
