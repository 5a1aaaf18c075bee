"""Checks that hold for every result the test suite makes.

Every fit JSON made in this process (``to_dict`` of a static fit, a trust fit, or a fit
inside a comparison) passes through :func:`_intervals_inside_bounds`: each parameter's 95%
interval lies inside its bounds and contains its estimate, and a parameter reported as not
identified carries no number. A test that makes a JSON breaking this fails.
"""

import math

import pytest

from cheaptalk.estimation.result import EstimationResult


def _intervals_inside_bounds(out: dict) -> None:
    intervals = out.get("diagnostics", {}).get("ci95", {})
    for name, p in out["params"].items():
        if p.get("identified") is False:
            assert p["estimate"] is None and p["se"] is None, (out["model"], name)
            assert intervals.get(name) in (None, [None, None]), (out["model"], name)
            continue
        lo, hi = intervals.get(name) or (None, None)
        if lo is None or hi is None:
            continue
        b_lo, b_hi = (p.get("bounds") or [None, None])
        b_lo = -math.inf if b_lo is None else b_lo
        b_hi = math.inf if b_hi is None else b_hi
        est = p["estimate"]
        tol = 1e-9 * max(1.0, abs(est))
        assert b_lo <= lo <= est + tol and est - tol <= hi <= b_hi, (out["model"], name, lo, est, hi, b_lo, b_hi)


@pytest.fixture(autouse=True, scope="session")
def _every_interval_inside_its_bounds():
    original = EstimationResult.to_dict

    def checked(self):
        out = original(self)
        _intervals_inside_bounds(out)
        return out

    EstimationResult.to_dict = checked
    yield
    EstimationResult.to_dict = original
