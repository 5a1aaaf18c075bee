"""M3: finite mixtures across model families (e.g. trust-embedded and level-k subjects).

Each subject belongs to one family for all her rounds, and within it to one of that
family's types. With family shares ``pi_f`` (per role) the type weights of the mixture are
``pi_f * w_{f,t}``, so the panel likelihood of :mod:`cheaptalk.models.likelihood` is the
mixture likelihood and posterior family membership comes out of the same computation.

Parameters are the union of the families' parameters, matched by name, so the noise
parameters (``sd_report``/``sd_capacity`` or the logit precisions) are shared: a subject's
tremble does not depend on her family. Family shares use stick-breaking:
``sender_share_<f_k>`` is the share of family ``f_k`` among senders not in ``f_1..f_{k-1}``
(for two families, simply the share of the first).
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .._jax import jnp
from .base import Option, OptionError, Parameter
from .finite_common import FiniteModel, combine_behaviours
from .forecast_common import ForecastModel, TypeChoices
from .registry import get_model

__all__ = ["ForecastMixture", "FiniteMixture", "family_log_shares", "DEFAULT_FAMILIES"]

DEFAULT_FAMILIES = ("trust", "levelk")
_FLOOR = 1e-12
_SHARED_OPTIONS = ("errors", "tie_precision", "per_type_precision", "exact_tolerance")


def _families_option(kind: str) -> Option:
    names = tuple(n for n in ("equilibrium", "qre", "levelk", "ch", "trust") if kind in _kinds(n))
    return Option("families", DEFAULT_FAMILIES, "choices", "the families mixed, at least two (comma-separated)",
                  allowed=names)


def _kinds(name: str) -> tuple:
    from .registry import model_kinds
    return model_kinds(name)


def family_log_shares(values: dict, role: str, families) -> object:
    """Log shares of the families for one role from the stick-breaking parameters."""
    logs, rest = [], 0.0
    for f in families[:-1]:
        s = values[f"{role}_share_{f}"]
        logs.append(rest + jnp.log(jnp.maximum(s, _FLOOR)))
        rest = rest + jnp.log(jnp.maximum(1 - s, _FLOOR))
    logs.append(rest)
    return logs


class _MixtureMixin:
    def _init_families(self, game, families, options):
        families = tuple(families)
        if len(families) < 2 or len(set(families)) != len(families):
            raise ModelError(f"a mixture needs two or more distinct families, got {families}")
        if "mixture" in families:
            raise ModelError("a mixture cannot contain a mixture")
        self.families = families
        # options shared by every family (the error model: noise is the same whoever the
        # subject is), then each family's own options, given as {family: {option: value}}
        shared = {k: v for k, v in options.items() if k in _SHARED_OPTIONS}
        self.members = [get_model(f, game, **{**shared, **options.get(f, {})}) for f in families]

    def parameters(self):
        seen, params = set(), []
        for member in self.members:
            for p in member.parameters():
                if p.name not in seen:
                    seen.add(p.name)
                    params.append(p)
        for role in ("sender", "receiver"):
            for f in self.families[:-1]:
                params.append(Parameter(f"{role}_share_{f}", 1.0 / len(self.families), 0.0, 1.0,
                                        f"share of {role}s of the {f} family"
                                        + ("" if len(self.families) == 2 else " among those not in earlier families")))
        return params

    @classmethod
    def parse_options(cls, given: dict) -> dict:
        # {family: {option: value}} entries (from Python) go to that family as they are
        per_family = {k: v for k, v in given.items() if isinstance(v, dict)}
        out = super().parse_options({k: v for k, v in given.items() if k not in per_family})
        unknown = set(per_family) - set(out["families"])
        if unknown:
            raise OptionError(f"mixture: options given for {sorted(unknown)}, which are not among its "
                              f"families {list(out['families'])}")
        return {**out, **per_family}

    def member_values(self, values: dict, member) -> dict:
        return {n: values[n] for n in member.param_names}

    def type_attributes(self):
        out = {}
        for role in ("sender", "receiver"):
            per_member = [m.type_attributes().get(role, {}) for m in self.members]
            sizes = [len(m.type_labels()[role]) if hasattr(m, "type_labels") else
                     (len(next(iter(a.values()))) if a else 1) for m, a in zip(self.members, per_member)]
            names = sorted({k for a in per_member for k in a})
            attrs = {}
            for name in names:
                attrs[name] = np.concatenate([np.asarray(a[name], float) if name in a else np.full(n, np.nan)
                                              for a, n in zip(per_member, sizes)])
            attrs["family"] = np.concatenate([np.full(n, i, float) for i, n in enumerate(sizes)])
            out[role] = attrs
        return out


class ForecastMixture(_MixtureMixin, ForecastModel):
    name = "mixture"
    description = "finite mixture of model families (default: trust-embedded and level-k), types fixed per subject"

    @classmethod
    def option_specs(cls):
        return ForecastModel.option_specs.__func__(cls) + [_families_option("forecast")]

    def __init__(self, game, *, families=DEFAULT_FAMILIES, **options):
        ForecastModel.__init__(self, game, families=tuple(families), **options)
        self._init_families(game, families, options)
        self.description = f"finite mixture of {' and '.join(self.families)} subjects"

    def rule_types(self):
        return {role: np.concatenate([np.asarray(m.rule_types().get(role, np.zeros(m.n_types(role), bool)), bool)
                                      for m in self.members]) for role in ("sender", "receiver")}

    def interval_columns(self, role):
        cols, offset = [], 0
        for member in self.members:
            cols.append(member.interval_columns(role) + offset)
            offset += member.n_types(role)
        return np.concatenate(cols).astype(int)

    def prepare(self, data):
        prep = ForecastModel.prepare(self, data)
        prep.cache["members"] = [m.prepare(data) for m in self.members]
        return prep

    def _combine(self, values, prep, role):
        parts = []
        log_shares = family_log_shares(values, role, self.families)
        for member, member_prep, log_share in zip(self.members, prep.cache["members"], log_shares):
            fn = member.sender_choices if role == "sender" else member.receiver_choices
            c = fn(self.member_values(values, member), member_prep)
            parts.append(TypeChoices(c.log_weights + log_share, c.low, c.high))
        return TypeChoices(*(jnp.concatenate([p[i] for p in parts], axis=-1) for i in range(3)))

    def sender_choices(self, values, prep):
        return self._combine(values, prep, "sender")

    def receiver_choices(self, values, prep):
        return self._combine(values, prep, "receiver")


class FiniteMixture(_MixtureMixin, FiniteModel):
    name = "mixture"
    description = "finite mixture of model families (default: trust-embedded and level-k), types fixed per subject"

    @classmethod
    def option_specs(cls):
        return FiniteModel.option_specs.__func__(cls) + [_families_option("finite")]

    def __init__(self, game, *, families=DEFAULT_FAMILIES, **options):
        FiniteModel.__init__(self, game, families=tuple(families), **options)
        self._init_families(game, families, options)
        self.description = f"finite mixture of {' and '.join(self.families)} subjects"

    def behaviour(self, values, treatment):
        parts = [m.behaviour(self.member_values(values, m), treatment) for m in self.members]
        return combine_behaviours(parts, family_log_shares(values, "sender", self.families),
                                  family_log_shares(values, "receiver", self.families))

    def type_labels(self):
        return {role: [f"{f}:{label}" for f, m in zip(self.families, self.members)
                       for label in m.type_labels()[role]] for role in ("sender", "receiver")}

    def rule_types(self):
        """The members' rule-following types, in the order of :meth:`type_labels` (the
        members apply their own error model to them)."""
        return {role: np.concatenate([np.asarray(m.rule_types().get(role, np.zeros(len(m.type_labels()[role]), bool)),
                                                 bool) for m in self.members]) for role in ("sender", "receiver")}
