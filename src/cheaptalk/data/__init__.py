"""Experiment data in the long format: reading, writing, validation."""

from .longformat import (OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROLES, DataFormatError, read_decisions,
                         write_decisions)

__all__ = ["REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "ROLES", "DataFormatError", "read_decisions",
           "write_decisions"]
