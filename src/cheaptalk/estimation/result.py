"""What every fit of the toolkit returns: one base class, one JSON shape, save and load.

:class:`EstimationResult` is the common part of a static fit
(:class:`~cheaptalk.estimation.fit_result.FitResult`) and a fit of trust over time
(:class:`~cheaptalk.dynamics.estimate.TrustFit`): estimates, standard errors, covariance,
log-likelihood, counts, warnings, AIC and BIC, ``summary()``, ``to_frame()``, ``to_dict()``
(the fit JSON, field by field in ``docs/results.md``), ``save(path)`` and :func:`load_result`,
which gives back a :class:`SavedResult` whose ``to_dict()`` is the saved JSON.

Plain numpy (pandas for ``to_frame``): reading a saved result does not import JAX.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import InputError
from ..labels import parameter_words
from . import inference
from .schema import SCHEMA_VERSION, check_result, read_json

__all__ = ["SCHEMA_VERSION", "EstimationResult", "SavedResult", "load_result", "read_json", "json_number",
           "json_header", "comparison_models"]



def json_number(x):
    """A float for JSON; None for NaN and infinities (which JSON does not have)."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def json_header(result: str) -> dict:
    """The fields every result JSON opens with: its schema version, the toolkit version and
    what it is (``"fit"`` or ``"comparison"``)."""
    from .. import __version__
    return {"schema_version": SCHEMA_VERSION, "cheaptalk_version": __version__, "result": result}


def comparison_models(data) -> list | None:
    """The fit JSONs under ``models`` when ``data`` is a comparison's JSON, else None."""
    return data["models"] if isinstance(data, dict) and isinstance(data.get("models"), list) else None


class EstimationResult:
    """Common interface of fitted models.

    Subclasses define ``name``, ``param_names``, ``estimate_vector`` and ``se_vector`` (the
    reported parameters), ``cov`` (their covariance), ``loglik``, ``n_obs`` (decisions),
    ``n_subjects`` (clusters: subjects or sellers), ``converged``, ``warnings``, and may add
    to the JSON through :meth:`_header`, :meth:`_param_extras`, :meth:`_diagnostics` and
    :meth:`_trailer`.
    """

    cluster_unit = "subject"
    se_method = "cluster-robust by subject (sandwich)"

    # --- counts and criteria -----------------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglik

    @property
    def bic(self) -> float:
        """``k log N - 2 log L`` with ``N`` the number of decisions."""
        return self.n_params * np.log(max(self.n_obs, 1)) - 2 * self.loglik

    profile: dict | None = None     # profile-likelihood intervals, when the fit computed them

    @property
    def interval_method(self) -> str:
        return ("profile likelihood" if self.profile is not None else
                "wald on the unbounded scale (logit / log), mapped back")

    def bounds(self) -> np.ndarray:
        """``(P, 2)`` lower and upper bounds of the reported parameters (infinite: none)."""
        return np.column_stack([np.full(self.n_params, -np.inf), np.full(self.n_params, np.inf)])

    def ci(self, level: float = 0.95) -> np.ndarray:
        """Profile-likelihood intervals when the fit computed them at ``level``; else Wald
        intervals formed on each parameter's unbounded scale and mapped back
        (:func:`.inference.wald_intervals`): inside the bounds, never clipped; NaN for a
        parameter without a standard error or not identified."""
        if self.profile is not None and abs(self.profile["level"] - level) < 1e-12:
            return np.array(self.profile["intervals"], float)
        b = np.asarray(self.bounds(), float)
        out = inference.wald_intervals(self.estimate_vector, self.se_vector, b[:, 0], b[:, 1], level)
        out[~self.identified_mask()] = np.nan
        return out

    def not_identified(self) -> dict:
        """``{name: reason}`` for the parameters the fit finds not identified: they load on a
        direction in which the likelihood is flat. Their values are where the optimizer
        stopped, not estimates: they are reported as "not identified", never as numbers."""
        return {n: "the likelihood is flat in a direction loading on it (Hessian eigenvalue ~0): "
                   "the data do not identify it" for n in getattr(self, "flat", []) or []}

    def identified_mask(self) -> np.ndarray:
        missing = self.not_identified()
        return np.array([n not in missing for n in self.param_names], bool)

    def z_values(self) -> np.ndarray:
        """``estimate / se`` (against zero; NaN without a standard error)."""
        se = np.asarray(self.se_vector, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(se > 0, np.asarray(self.estimate_vector, float) / se, np.nan)

    def p_values(self) -> np.ndarray:
        """Two-sided p-values of ``z_values`` (meaningful for parameters whose zero is inside
        their range, such as slopes; not for shares or standard deviations)."""
        return 2 * stats.norm.sf(np.abs(self.z_values()))

    # --- conversions -------------------------------------------------------------------
    def to_frame(self):
        """A DataFrame indexed by parameter: estimate, se, ci_low, ci_high."""
        import pandas as pd      # here: a trust fit on Spark workers runs without pandas

        ci = self.ci()
        return pd.DataFrame({"estimate": np.asarray(self.estimate_vector, float),
                             "se": np.asarray(self.se_vector, float), "ci_low": ci[:, 0], "ci_high": ci[:, 1]},
                            index=pd.Index(list(self.param_names), name="parameter"))

    def to_dict(self) -> dict:
        """The fit JSON (``docs/results.md``): the same fields for every model."""
        ci = self.ci()
        names = list(self.param_names)
        missing = self.not_identified()
        bounds = np.asarray(self.bounds(), float)
        params = {}
        for i, name in enumerate(names):
            entry = {"estimate": json_number(self.estimate_vector[i]), "se": json_number(self.se_vector[i]),
                     "identified": name not in missing, "words": parameter_words(name),
                     "bounds": [json_number(bounds[i, 0]), json_number(bounds[i, 1])],
                     **self._param_extras(i, name)}
            if name in missing:
                entry.update(estimate=None, se=None, reason=missing[name])
            params[name] = entry
        cov = np.asarray(self.cov, float)
        out = {**json_header("fit"), "model": self.name, **self._header(),
               "loglik": json_number(self.loglik), **self._after_loglik(),
               "n_params": self.n_params, "n_obs": int(self.n_obs), "n_subjects": int(self.n_subjects),
               "cluster": self.cluster_unit,
               "aic": json_number(self.aic), "bic": json_number(self.bic), "converged": bool(self.converged),
               "params": params,
               "covariance": {"names": names, "matrix": [[json_number(x) for x in row] for row in cov]},
               "diagnostics": {"se_method": self.se_method,
                               "ci95": {n: [json_number(ci[i, 0]), json_number(ci[i, 1])]
                                        for i, n in enumerate(names)},
                               "ci_method": self.interval_method,
                               **self._diagnostics()},
               "warnings": list(self.warnings)}
        out.update(self._trailer())
        return out

    def save(self, path: str | Path) -> Path:
        """Write the fit JSON to ``path``; :func:`load_result` reads it back."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def summary(self) -> str:
        frame = self.to_frame()
        width = max(len(n) for n in list(self.param_names) + ["parameter"])
        lines = [f"{self.name}: log-likelihood {self.loglik:,.3f}, AIC {self.aic:,.1f}, BIC {self.bic:,.1f}",
                 f"  decisions {self.n_obs:,}, {self.cluster_unit}s {self.n_subjects:,}, "
                 f"converged: {'yes' if self.converged else 'NO'}",
                 f"  standard errors: {self.se_method}", "",
                 f"  {'parameter':<{width}}  {'estimate':>10}  {'(se)':>10}  {'95% CI':>23}"]
        missing = self.not_identified()
        for name, row in frame.iterrows():
            if name in missing:
                lines.append(f"  {name:<{width}}  {'not identified':>23}")
                continue
            ok = np.isfinite(row["se"]) and np.isfinite(row["ci_low"])
            lines.append(f"  {name:<{width}}  {row['estimate']:>10.4g}  "
                         f"{'(' + format(row['se'], '.4g') + ')' if ok else '(--)':>10}  "
                         f"{'[' + format(row['ci_low'], '.4g') + ', ' + format(row['ci_high'], '.4g') + ']' if ok else '':>23}"
                         f"  {parameter_words(name)}")
        if self.warnings:
            lines += [""] + [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    # --- what subclasses add -----------------------------------------------------------
    def _header(self) -> dict:
        return {}

    def _after_loglik(self) -> dict:
        return {}

    def _param_extras(self, i: int, name: str) -> dict:
        return {}

    def _diagnostics(self) -> dict:
        return {}

    def _trailer(self) -> dict:
        return {}


class SavedResult(EstimationResult):
    """A fit read back from its JSON (:func:`load_result`): estimates, standard errors,
    covariance and statistics, without the data. ``to_dict()`` returns the saved JSON."""

    def __init__(self, data: dict, source: str = "<dict>"):
        self.data = data
        self.source = source
        self.name = data["model"]
        self.param_names = list(data["params"])
        self.estimate_vector = np.array([_float(p.get("estimate")) for p in data["params"].values()])
        self.se_vector = np.array([_float(p.get("se")) for p in data["params"].values()])
        cov = data.get("covariance")
        if cov and cov.get("names") == self.param_names:
            self.cov = np.array([[_float(x) for x in row] for row in cov["matrix"]], float)
        else:
            self.cov = np.diag(self.se_vector ** 2)
        self.loglik = _float(data.get("loglik"))
        self.n_obs = int(data.get("n_obs", 0))
        self.n_subjects = int(data.get("n_subjects", 0))
        self.converged = bool(data.get("converged", False))
        self.warnings = list(data.get("warnings", []))
        self.cluster_unit = data.get("cluster", "subject")
        self.se_method = data.get("diagnostics", {}).get("se_method", self.se_method)

    @property
    def n_params(self) -> int:
        return int(self.data.get("n_params", len(self.param_names)))

    @property
    def options(self) -> dict:
        return dict(self.data.get("options") or {})

    @property
    def interval_method(self) -> str:
        return self.data.get("diagnostics", {}).get("ci_method", EstimationResult.interval_method.fget(self))

    def bounds(self) -> np.ndarray:
        out = []
        for p in self.data["params"].values():
            b = p.get("bounds") if isinstance(p.get("bounds"), list) and len(p["bounds"]) == 2 else [None, None]
            out.append([-np.inf if b[0] is None else float(b[0]), np.inf if b[1] is None else float(b[1])])
        return np.array(out, float).reshape(-1, 2)

    def not_identified(self) -> dict:
        return {n: p.get("reason", "not identified") for n, p in self.data["params"].items()
                if p.get("identified") is False}

    def ci(self, level: float = 0.95) -> np.ndarray:
        saved = self.data.get("diagnostics", {}).get("ci95")
        if level == 0.95 and saved and set(saved) == set(self.param_names):
            return np.array([[_float(saved[n][0]), _float(saved[n][1])] for n in self.param_names])
        return super().ci(level)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self.data))

    def __repr__(self) -> str:
        return f"SavedResult({self.name!r} from {self.source})"


def _float(x) -> float:
    return float("nan") if x is None else float(x)


def load_result(path: str | Path) -> SavedResult:
    """Read a fit JSON written by ``save()``, ``cheaptalk fit --json`` or
    ``cheaptalk trust fit --json``. Errors name the file and what is wrong with it."""
    return result_from_dict(read_json(path), str(path))


def result_from_dict(data, source: str = "<dict>") -> SavedResult:
    """A saved fit from its JSON document, checked against the result schema first
    (:func:`~cheaptalk.estimation.schema.check_result`)."""
    if isinstance(data, dict) and (data.get("result") == "comparison" or "models" in data):
        raise InputError(f"{source}: not a fit JSON (it needs 'model' and 'params'; a comparison's JSON "
                         "holds one per model under 'models')")
    check_result(data, source, "fit")
    return SavedResult(data, source)
