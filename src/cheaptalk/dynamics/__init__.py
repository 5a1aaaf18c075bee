"""Trust over time (MODELS.md section 5): recommendation logs, the dynamic trust model,
its estimation on a local engine (DuckDB) or Apache Spark, and what-if simulations."""

from .estimate import TrustFit, fit_trust
from .generate import SyntheticWorld, generate_logs
from .logs import Exclusions, LogSchemaError, resolve_logs
from .model import PARAMETER_NAMES, TrustDynamics

__all__ = ["TrustDynamics", "PARAMETER_NAMES", "fit_trust", "TrustFit", "resolve_logs",
           "LogSchemaError", "Exclusions", "generate_logs", "SyntheticWorld"]
