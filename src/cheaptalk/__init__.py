"""cheaptalk: the behavioural science of cheap-talk communication.

Define cheap-talk games, predict and simulate behaviour under standard theory, level-k /
cognitive hierarchy and the trust-embedded model, fit them to experiment data and compare.
"""

__version__ = "0.1.0"

# the root of every error the toolkit raises on purpose (``except cheaptalk.CheaptalkError``)
from .errors import CheaptalkError  # noqa: E402

__all__ = ["CheaptalkError", "__version__"]
