"""Comparing fitted models: information criteria, Vuong and likelihood-ratio tests,
cross-validation by subject, held-out treatments, behavioural regularities."""

from .compare import Comparison, available_models, compare_models
from .predictive import cross_validate, holdout_treatments, subject_folds
from .regularities import STATISTICS, model_regularities, regularities, regularity_table
from .vuong import is_nested, likelihood_ratio_test, vuong_test

__all__ = ["compare_models", "Comparison", "available_models", "cross_validate", "holdout_treatments",
           "subject_folds", "regularities", "model_regularities", "regularity_table", "STATISTICS",
           "vuong_test", "likelihood_ratio_test", "is_nested"]
