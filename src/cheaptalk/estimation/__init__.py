"""Estimation: maximum likelihood with exact gradients, cluster-robust standard errors,
bootstrap by subject, diagnostics, and per-subject posteriors of trust and type."""

from .mle import EstimationError, EstimationWarning, bootstrap, fit, maximize, standard_errors, starting_points
from .objective import Likelihood
from .results import FitResult, subject_posteriors, type_membership

__all__ = ["fit", "maximize", "standard_errors", "bootstrap", "starting_points", "Likelihood", "FitResult",
           "subject_posteriors", "type_membership", "EstimationWarning", "EstimationError"]
