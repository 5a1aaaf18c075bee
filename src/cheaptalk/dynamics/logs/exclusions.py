"""What could not be used, counted by reason (never dropped silently)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


REASONS = {
    "seller_missing": "row excluded: seller missing",
    "time_missing": "row excluded: time missing",
    "recommendation_missing": "row excluded: recommendation missing, not finite or beyond 1e12 in size",
    "unknown_seller": "row excluded: seller not in the seller table",
    "duplicate_identical": "row excluded: identical duplicate event (one copy kept)",
    "duplicate_conflicting": "row excluded: same seller and time, different content",
    "decision_missing": "decision not used: action/own estimate/followed missing or invalid (or beyond 1e12)",
    "feedback_missing": "feedback not used: feedback missing or not 0/1",
    "fidelity_unknown": "feedback not used: fidelity unknown or outside [0, 1]",
}


@dataclass
class Exclusions:
    counts: dict = field(default_factory=lambda: {k: 0 for k in REASONS})
    examples: list = field(default_factory=list)   # (reason, column, seller, time)
    max_examples: int = 5
    # rows of sellers left out of a seller sample: not used by choice, so not an exclusion
    outside_sample: int = 0

    def add(self, reason: str, column: str, mask, seller, time):
        n = int(np.count_nonzero(mask))
        if not n:
            return
        self.counts[reason] += n
        if len(self.examples) < self.max_examples:
            for i in np.flatnonzero(mask)[: self.max_examples - len(self.examples)]:
                s = seller[i]
                self.examples.append({"reason": reason, "column": column,
                                      "seller": s.item() if hasattr(s, "item") else s,
                                      "time": float(time[i]) if np.isfinite(time[i]) else None})

    def merge(self, other: "Exclusions"):
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for e in other.examples:
            if len(self.examples) < self.max_examples:
                self.examples.append(e)
        self.outside_sample += other.outside_sample
        return self

    @property
    def rows_excluded(self) -> int:
        return sum(v for k, v in self.counts.items() if REASONS[k].startswith("row excluded"))

    def to_dict(self) -> dict:
        return {"counts": {k: v for k, v in self.counts.items()},
                "rows_excluded": self.rows_excluded, "examples": self.examples,
                "rows_outside_seller_sample": self.outside_sample}

    def report_lines(self) -> list[str]:
        return [f"{REASONS[k]}: {v}" for k, v in self.counts.items() if v]
