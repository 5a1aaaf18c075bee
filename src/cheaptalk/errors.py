"""The toolkit's errors: one root, :class:`CheaptalkError`, and a subclass for each kind of
thing that can be wrong. The command line prints any of them as one line naming the file,
row and column where there is one, and exits with code 2; any other exception is a bug in
the toolkit, reported as an internal error.

Each subclass also derives from the built-in exception that code written before the root
existed catches (``ValueError`` for bad input, ``RuntimeError`` for failures), so
``except ValueError`` still works.
"""

from __future__ import annotations

__all__ = ["CheaptalkError", "InputError", "DataError", "GameError", "LogsError", "ModelError",
           "EstimationFailure", "EnvironmentProblem", "UnknownName"]


class CheaptalkError(Exception):
    """Root of every error the toolkit raises on purpose."""


class InputError(CheaptalkError, ValueError):
    """Something a user gave cannot be used (file, option, argument)."""


class DataError(InputError):
    """Decision data, import maps or data sets that cannot be used."""


class GameError(InputError):
    """A game file or payoff formula that cannot be used."""


class LogsError(InputError):
    """Recommendation logs that cannot be used."""


class ModelError(InputError):
    """An unknown model, option or parameter, or a value it does not allow."""


class EstimationFailure(CheaptalkError, RuntimeError):
    """A fit that cannot be made or trusted (no finite likelihood, no usable decision)."""


class EnvironmentProblem(CheaptalkError, RuntimeError):
    """Something outside the toolkit is missing or broken (oTree, Spark, Java, a download)."""


class UnknownName(InputError, KeyError):
    """A name that is not there: a model, a treatment (also a ``KeyError``, for lookups)."""

    def __str__(self) -> str:         # the message, without the quotes KeyError adds
        return str(self.args[0]) if self.args else ""
