"""Estimation: maximum likelihood with exact gradients, cluster-robust standard errors,
bootstrap by subject, diagnostics, and per-subject posteriors of trust and type.

:mod:`.inference` (covariances, delta method, diagnostics) and :mod:`.result` (the results
base class, JSON, save and load) are plain numpy and shared with the trust-over-time fits;
the names below are imported on first use, so that importing those does not import JAX.
"""

from .._lazy import lazy_exports

_EXPORTS = {"fit": "mle", "maximize": "mle", "standard_errors": "mle", "bootstrap": "mle",
            "starting_points": "mle", "EstimationError": "mle", "EstimationWarning": "mle",
            "Likelihood": "objective", "FitResult": "fit_result", "subject_posteriors": "fit_result",
            "type_membership": "fit_result", "EstimationResult": "result", "load_result": "result"}

__all__ = ["fit", "maximize", "standard_errors", "bootstrap", "starting_points", "Likelihood", "FitResult",
           "subject_posteriors", "type_membership", "EstimationWarning", "EstimationError",
           "EstimationResult", "load_result"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
