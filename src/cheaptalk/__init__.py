"""cheaptalk: the behavioural science of cheap-talk communication.

Define cheap-talk games, predict and simulate behaviour under standard theory, level-k /
cognitive hierarchy and the trust-embedded model, fit them to experiment data and compare.
"""

__version__ = "0.1.0"
