"""Experiment data in the long format: reading, writing, validation."""

from .longformat import (OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROLES, DataFormatError, read_decisions,
                         write_decisions)
from .validation import CleaningReport, clean_decisions

__all__ = ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "ROLES", "DataFormatError", "read_decisions",
           "write_decisions", "clean_decisions", "CleaningReport"]
