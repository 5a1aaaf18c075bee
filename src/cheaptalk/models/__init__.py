"""Behavioural models of cheap talk: standard theory, level-k / cognitive hierarchy,
trust-embedded, and mixtures of them. Each predicts, simulates and gives a likelihood."""

from .base import Model, Parameter, ParameterError, Prediction, RoleComponents
from .registry import MODEL_NAMES, get_model, model_class

__all__ = ["Model", "Parameter", "ParameterError", "Prediction", "RoleComponents",
           "MODEL_NAMES", "get_model", "model_class"]
