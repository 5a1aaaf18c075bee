"""Bundled data sets.

``forecast_sharing_synthetic.csv`` is SYNTHETIC: forecast-sharing decisions simulated by
``scripts/make_default_data.py`` from a documented population mixing trust-embedded and
level-k subjects (true parameters in ``forecast_sharing_synthetic.truth.json``), calibrated
so that the pooled slopes of report on forecast and of capacity on report fall in the range
published for the real experiment and its replications. It is not observed behaviour.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_GAME", "default_data_path", "default_truth", "load_default_data"]

DEFAULT_GAME = "forecast-sharing"
_NAME = "forecast_sharing_synthetic"


def default_data_path() -> Path:
    """Path of the bundled synthetic forecast-sharing data (long format CSV)."""
    return Path(str(resources.files(__name__).joinpath(f"{_NAME}.csv")))


def default_truth() -> dict:
    """The documented population the bundled synthetic data were simulated from."""
    return json.loads(resources.files(__name__).joinpath(f"{_NAME}.truth.json").read_text())


def load_default_data():
    """The bundled synthetic data as a DataFrame (the ``synthetic`` column is 1 on every row)."""
    from ..data import read_decisions

    return read_decisions(default_data_path())
