"""Trust over time (docs/models.md, section 6): recommendation logs, the dynamic trust model,
its estimation on a local engine (Arrow and DuckDB) or Apache Spark, and what-if simulations.

The names below are imported on first use, so that a process that needs only part of the
package (a Spark worker running the compiled passes) does not import JAX or SciPy.
"""

from .._lazy import lazy_exports

_EXPORTS = {"TrustFit": "estimate", "fit_trust": "estimate", "SyntheticWorld": "generate",
            "generate_logs": "generate", "Exclusions": "logs", "LogSchemaError": "logs",
            "resolve_logs": "logs", "PARAMETER_NAMES": "parameters", "TrustDynamics": "model"}

__all__ = ["TrustDynamics", "PARAMETER_NAMES", "fit_trust", "TrustFit", "resolve_logs",
           "LogSchemaError", "Exclusions", "generate_logs", "SyntheticWorld"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
