"""Synthetic recommendation logs with a known truth (labelled synthetic).

The world: each seller belongs to a fidelity segment (``high``, ``mid``, ``low``) that sets
how noisy the platform's recommendations are for it. Per event, demand ``truth_t`` varies
around a seller-specific level; the recommendation is ``truth_t`` plus segment noise; the
seller's own estimate is ``truth_t`` plus its own noise; the seller sees the outcome
(``feedback_t = 1``) with probability ``feedback_rate``. Trust follows the model of
:mod:`cheaptalk.dynamics.model` from an initial trust drawn from the Beta, and the seller's
action (continuous) or follow decision (binary) is drawn from it.

Generation streams over chunks of sellers and writes one Parquet file per chunk, so any
size (1e8 events and more) is produced in bounded memory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import expit

from ..errors import InputError
from .investment.levers import Change, apply_change, expected_profit, shifted_trust
from .model import simulate_path
from .parameters import parameter_names, rate_names, rule_values, split_rule

__all__ = ["SyntheticWorld", "generate_logs", "SEGMENTS"]

SEGMENTS = ("high", "mid", "low")


@dataclass
class SyntheticWorld:
    """A synthetic platform. ``eta_up`` and ``eta_down`` are the learning ``rule``'s first and
    second rates (asymmetric: gained, lost; confirmation: confirming, disconfirming;
    symmetric: ``eta_up`` for both); ``prior_strength`` (median) and ``prior_strength_sd``
    (of its log, across sellers) are the bayes rule's, ``trust_after_win``
    and ``trust_after_loss`` the wsls rule's; ``decay`` is the rate of a ``RULE+decay`` rule."""
    adoption: str = "continuous"
    eta_up: float = 0.15
    eta_down: float = 0.35
    rule: str = "asymmetric"
    prior_strength: float = 4.0     # bayes: median n0 across sellers
    prior_strength_sd: float = 0.5  # bayes: sd of log n0 across sellers
    trust_after_win: float = 0.8
    trust_after_loss: float = 0.3
    decay: float = 0.0              # used by a RULE+decay rule
    # > 1: subjects of this many sellers (advisors) that share one initial trust, listed in
    # sellers.parquet (seller, subject) for `--shared-initial-trust`
    advisors_per_subject: int = 1
    initial_trust_mean: float = 0.5
    # initial trust by segment: {segment: mean} (segments not named keep initial_trust_mean)
    initial_trust_means: dict | None = None
    initial_trust_concentration: float = 6.0
    sd_action: float = 5.0
    follow_slope: float = 2.0
    feedback_rate: float = 0.7
    fidelity_scale: float = 30.0
    # recommendation error sd by segment (high, mid, low fidelity)
    recommendation_sd: tuple = (4.0, 10.0, 25.0)
    own_sd: float = 15.0
    demand_sd: float = 20.0
    demand_level: tuple = (50.0, 150.0)

    def truth(self) -> dict:
        """True population parameters under the names ``trust fit --json`` reports (with
        initial trust by segment, ``initial_trust_mean[SEGMENT]`` for every segment)."""
        rates = {} if split_rule(self.rule)[0] in ("bayes", "wsls") else \
            dict(zip(rate_names(self.rule), (self.eta_up, self.eta_down)))
        segments = tuple(sorted(SEGMENTS)) if self.initial_trust_means else ()
        means = {f"initial_trust_mean[{s}]": (self.initial_trust_means or {}).get(s, self.initial_trust_mean)
                 for s in segments}
        return {name: rates.get(name, means.get(name, getattr(self, name, None)))
                for name in parameter_names(self.adoption, self.rule, segments)}


def _simulate_chunk(world: SyntheticWorld, rng, first_seller: int, n_sellers: int, T: int,
                    randomize=None, assign_rng=None):
    S = n_sellers
    seg = rng.integers(0, len(SEGMENTS), S)
    level = rng.uniform(*world.demand_level, S)[:, None]
    truth = level + world.demand_sd * rng.standard_normal((S, T))
    rec_sd = np.asarray(world.recommendation_sd)[seg][:, None]
    rec = truth + rec_sd * rng.standard_normal((S, T))
    own = truth + world.own_sd * rng.standard_normal((S, T))
    uniform = rng.random((S, T))
    feedback = uniform < world.feedback_rate
    fidelity = 1.0 - np.minimum(1.0, np.abs(rec - truth) / world.fidelity_scale)
    k = max(1, int(world.advisors_per_subject))
    a = world.initial_trust_mean * world.initial_trust_concentration
    b = (1 - world.initial_trust_mean) * world.initial_trust_concentration
    if world.initial_trust_means:
        if k > 1:
            raise InputError("initial trust by segment and advisors sharing one initial trust do not go together")
        means = np.array([world.initial_trust_means.get(s, world.initial_trust_mean) for s in SEGMENTS])[seg]
        alpha0 = rng.beta(means * world.initial_trust_concentration,
                          (1 - means) * world.initial_trust_concentration)
    elif k > 1:
        # one initial trust per subject, shared by its advisors (chunks hold whole subjects)
        subject = (first_seller + np.arange(S)) // k
        first_subject = subject[0]
        alpha0 = rng.beta(a, b, subject[-1] - first_subject + 1)[subject - first_subject]
    else:
        alpha0 = rng.beta(a, b, S)
    values = rule_values(world.truth(), world.rule)
    if split_rule(world.rule)[0] == "bayes":
        # each seller's own prior strength (drawn only under bayes: the other rules' logs
        # keep their random stream)
        values = (world.prior_strength * np.exp(world.prior_strength_sd * rng.standard_normal(S)), 0.0)
    treated, effects = None, None
    if randomize is not None:
        change, share = randomize
        treated = assign_rng.random(S) < share
        # each seller's expected outcomes in both arms (the synthetic truth of the effect)
        arms = [(rec, fidelity, feedback, alpha0)]
        rec_1, fid_1, fb_1 = apply_change(change, rec, truth, fidelity, feedback, uniform, world.fidelity_scale)
        alpha0_1 = shifted_trust(alpha0, change)
        arms.append((rec_1, fid_1, fb_1, alpha0_1))
        paths = [simulate_path(a0, f, fb, *values, world.rule, decay=world.decay) for _, f, fb, a0 in arms]
        effects = {arm: _expected_outcomes(world, path, r, own, truth, change.start)
                   for arm, path, (r, *_) in zip(("control", "treated"), paths, arms)}
        pick = treated[:, None]
        rec, fidelity, feedback = (np.where(pick, x1, x0) for x0, x1 in zip(arms[0][:3], arms[1][:3]))
        alpha0 = np.where(treated, alpha0_1, alpha0)
        trust = np.where(pick, paths[1], paths[0])
    else:
        trust = simulate_path(alpha0, fidelity, feedback, *values, world.rule, decay=world.decay)
    seller = np.arange(first_seller, first_seller + S, dtype=np.int64)
    cols = {
        "seller": np.repeat(seller, T),
        "time": np.tile(np.arange(T, dtype=np.int64), S),
        "recommendation": rec.ravel(),
    }
    if world.adoption == "continuous":
        action = trust * rec + (1 - trust) * own + world.sd_action * rng.standard_normal((S, T))
        cols["action"] = action.ravel()
        cols["own_estimate"] = own.ravel()
    else:
        z = world.follow_slope * (np.log(np.clip(trust, 1e-9, 1)) - np.log(np.clip(1 - trust, 1e-9, 1)))
        cols["followed"] = (rng.random((S, T)) < 1 / (1 + np.exp(-z))).astype(np.int8).ravel()
        cols["own_estimate"] = own.ravel()   # what the seller does when it ignores the recommendation
    cols["truth"] = truth.ravel()
    cols["feedback"] = feedback.astype(np.int8).ravel()
    table = pa.table(cols)
    segment = pa.DictionaryArray.from_arrays(pa.array(np.repeat(seg, T).astype(np.int32)),
                                             pa.array(SEGMENTS))
    table = table.append_column("segment", segment)
    sellers = pa.table({"seller": seller, "segment": pa.array(np.asarray(SEGMENTS)[seg]),
                        "initial_trust": alpha0})
    if k > 1:
        sellers = sellers.append_column("subject", pa.array(seller // k))
    if treated is not None:
        sellers = sellers.append_column("treatment", pa.array(treated.astype(np.int8)))
        for arm, values in effects.items():
            for name, v in values.items():
                sellers = sellers.append_column(f"{name}_if_{arm}", pa.array(v))
    return table, sellers


def _expected_outcomes(world: SyntheticWorld, trust, rec, own, truth, start: int) -> dict:
    """Each seller's expected outcomes over its events from ``start`` on, given its trust
    path: the weight on the recommendation (continuous: ``sum alpha d^2 / sum d^2``,
    ``d = m - own``; binary: the mean follow probability) and the mean newsvendor profit
    per event (price 1, unit cost 0.6, expected over the action noise)."""
    t = slice(start, None)
    trust, rec, own, truth = trust[:, t], rec[:, t], own[:, t], truth[:, t]
    if world.adoption == "continuous":
        d2 = (rec - own) ** 2
        adoption = (trust * d2).sum(axis=1) / d2.sum(axis=1)
        profit = expected_profit(trust * rec + (1 - trust) * own, truth, 1.0, 0.6, world.sd_action)
    else:
        z = world.follow_slope * (np.log(np.clip(trust, 1e-9, 1)) - np.log(np.clip(1 - trust, 1e-9, 1)))
        follow = expit(z)
        adoption = follow.mean(axis=1)
        profit = follow * expected_profit(rec, truth, 1.0, 0.6) + (1 - follow) * expected_profit(own, truth, 1.0, 0.6)
    return {"adoption": adoption, "profit": profit.mean(axis=1)}


def generate_logs(out: str | Path, sellers: int, events_per_seller: int, seed: int = 0,
                  world: SyntheticWorld | None = None, events_per_file: int = 2_000_000,
                  progress: bool = False, randomize=None) -> dict:
    """Write synthetic logs to ``out``: ``events/part-*.parquet``, ``truth.json``,
    ``schema.json`` and ``sellers_truth.parquet`` (each seller's true initial trust).

    ``randomize = (change, share)`` (a :class:`~cheaptalk.dynamics.levers.Change` and a
    share): each seller is treated with probability ``share`` and then gets the change from
    event ``change.start`` on; ``sellers.parquet`` (seller, segment, treatment) marks the
    arms, ``sellers_truth.parquet`` holds each seller's expected outcomes in both arms and
    ``truth.json`` their mean differences, the true effect (``effect``, by segment too)."""
    world = world or SyntheticWorld()
    if sellers < 1 or events_per_seller < 1:
        raise InputError("--sellers and --events-per-seller must be at least 1")
    out = Path(out)
    (out / "events").mkdir(parents=True, exist_ok=True)
    for old in (out / "events").glob("part-*.parquet"):
        old.unlink()
    rng = np.random.default_rng(seed)
    assign_rng = np.random.default_rng([seed, 28])   # the arms (apart: the logs' own draws stay as without)
    per_file = max(1, events_per_file // events_per_seller)
    advisors = max(1, int(world.advisors_per_subject))
    per_file = max(advisors, per_file // advisors * advisors)       # whole subjects in each file
    n_files = -(-sellers // per_file)
    writer_truth = None
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sellers * events_per_seller, unit="ev", unit_scale=True, desc="generate",
                   file=__import__("sys").stderr)
    try:
        for k in range(n_files):
            first = k * per_file
            n = min(per_file, sellers - first)
            table, truth_table = _simulate_chunk(world, rng, first, n, events_per_seller, randomize, assign_rng)
            pq.write_table(table, out / "events" / f"part-{k:05d}.parquet", row_group_size=1 << 20)
            if writer_truth is None:
                writer_truth = pq.ParquetWriter(out / "sellers_truth.parquet", truth_table.schema)
            writer_truth.write_table(truth_table)
            if bar is not None:
                bar.update(table.num_rows)
    finally:
        if writer_truth is not None:
            writer_truth.close()
        if bar is not None:
            bar.close()
    truth = {"synthetic": True, "model": f"trust-dynamics-{world.adoption}", "rule": world.rule, "seed": seed,
             "sellers": sellers, "events_per_seller": events_per_seller,
             "n_events": sellers * events_per_seller, "params": world.truth(),
             "world": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(world).items()}}
    if randomize is not None:
        change, share = randomize
        truth["randomize"] = {"share": share, "from": change.start,
                              "levers": {k: v for k, v in change.to_dict().items()
                                         if k != "start" and v != Change().to_dict()[k]}}
        truth["effect"] = _true_effect(out / "sellers_truth.parquet")
    if advisors > 1 or randomize is not None:
        # the seller table (found beside events/) that `trust fit --shared-initial-trust`
        # and `trust effect --treatment treatment` read
        keep = ["seller"] + (["subject"] if advisors > 1 else []) + \
            (["treatment"] if randomize is not None else [])
        pq.write_table(pq.read_table(out / "sellers_truth.parquet", columns=keep), out / "sellers.parquet")
    elif (out / "sellers.parquet").exists():
        (out / "sellers.parquet").unlink()
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    (out / "schema.json").write_text(json.dumps(
        {"adoption": world.adoption, "fidelity_scale": world.fidelity_scale,
         "fidelity": "1 - min(1, |recommendation - truth| / fidelity_scale)"}, indent=2) + "\n")
    return truth


def _true_effect(sellers_truth: Path) -> dict:
    """Mean differences between the sellers' expected outcomes in the two arms, overall and
    by segment (every seller counted, whichever arm it was drawn into)."""
    t = pq.read_table(sellers_truth).to_pandas()
    out = {}
    for name in ("adoption", "profit"):
        d = t[f"{name}_if_treated"] - t[f"{name}_if_control"]
        out[name] = float(d.mean())
        out[f"{name}_by_segment"] = {str(s): float(v) for s, v in d.groupby(t["segment"]).mean().items()}
    return out
