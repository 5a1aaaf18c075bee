"""Cheap-talk games: G1 forecast sharing and G2 finite sender-receiver games."""

from .distributions import SumDistribution, TruncatedNormal, Uniform
from .finite import FiniteGame
from .forecast import ForecastGame
from .formulas import Formula, FormulaError
from .loader import PRESETS, GameFileError, GameSpec, game_from_dict, load_game

__all__ = ["ForecastGame", "FiniteGame", "GameSpec", "load_game", "game_from_dict", "PRESETS",
           "GameFileError", "Formula", "FormulaError", "Uniform", "TruncatedNormal", "SumDistribution"]
