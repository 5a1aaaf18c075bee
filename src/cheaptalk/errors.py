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
           "EstimationFailure", "EnvironmentProblem", "UnknownName",
           "DataFormatError", "MapError", "DataValueError", "StrangersError", "DatasetError",
           "GameFileError", "FormulaError", "TooManyProfiles", "NoPureEquilibrium",
           "ParameterError", "OptionError", "LogSchemaError", "EstimationError", "TrustFitError",
           "OTreeEnvError", "EstimationWarning"]


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


# --- the particular kinds, by where they arise -----------------------------------------------
# (each docstring says what the message names and how to fix it)

class DataFormatError(DataError):
    """Decision data that make no sense. The message names the file, row and column: fix
    the value there, map it in the import map's ``[values.COLUMN]``, or leave the row out with
    ``[source] keep``."""


class MapError(DataError):
    """A column map that is malformed or does not fit the data. The message names the map file
    and the entry (and the data file, row and column where there is one); ``docs/importing.md``
    lists what a map may hold."""


class DataValueError(DataError):
    """A decision whose values do not belong to the game (a message or action that is not one
    of the game's). The message names row and column: check that the data and the game file
    (``--game``) describe the same experiment."""


class StrangersError(DataFormatError):
    """A partner session re-matched suppliers with new manufacturers, so a supplier has no one
    trust path. Run that design with partners fixed for the session."""


class DatasetError(DataError):
    """An unknown data set, a failed download, a missing mirror file or a wrong checksum. The
    message says which; ``cheaptalk datasets list`` shows the known ones, and
    ``CHEAPTALK_DATA_MIRROR=DIR`` reads a local copy."""


class GameFileError(GameError):
    """A game file that is malformed. The message names the file and the offending entry;
    ``docs/game-files.md`` lists what each section may hold."""


class FormulaError(GameError):
    """A payoff formula that cannot be parsed or uses something not allowed. The message names
    the formula; formulas use ``s``, ``a``, ``m``, constants and the functions listed in
    ``docs/game-files.md``."""


class TooManyProfiles(GameError):
    """A game too large to enumerate its pure strategies: use fewer states or messages, or the
    QRE model."""


class NoPureEquilibrium(GameError):
    """A game without a pure-strategy equilibrium (the equilibrium model then plays the limit
    of the logit QRE branch, a mixed equilibrium)."""


class ParameterError(ModelError):
    """An unknown parameter name or a value outside its bounds; ``cheaptalk describe MODEL``
    lists each parameter with its bounds."""


class OptionError(ModelError):
    """An unknown model option or a value it does not allow; ``cheaptalk describe MODEL``
    lists each option with the values or the range it takes."""


class LogSchemaError(LogsError):
    """Logs that cannot be read as recommendation events (a missing or mistyped column, an
    unreadable file). The message names the file and column; ``docs/dynamics.md`` gives the
    columns."""


class EstimationError(EstimationFailure):
    """A likelihood that cannot be evaluated at any starting point: check that the data and
    the game describe the same experiment, or give other starts."""


class TrustFitError(EstimationFailure, ValueError):
    """Logs that a fit cannot honestly be made from (no usable decision, a likelihood that is
    not finite); the message says why."""


class OTreeEnvError(EnvironmentProblem):
    """The oTree environment or server could not be set up; the message says what failed
    (the environment is rebuilt on the next run)."""


class EstimationWarning(UserWarning):
    """Non-convergence, a parameter at a bound, or a flat likelihood: the fit is reported, and
    its ``warnings`` say what to make of it."""
