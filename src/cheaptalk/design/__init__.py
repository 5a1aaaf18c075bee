"""Designing an experiment before it is run: how much each treatment tells the competing
models apart (:mod:`cheaptalk.design.information`)."""

from .information import (Candidate, InformationReport, candidate, decision_information_exact, parameter_draws,
                          treatment_information)

__all__ = ["Candidate", "InformationReport", "candidate", "decision_information_exact", "parameter_draws",
           "treatment_information"]
