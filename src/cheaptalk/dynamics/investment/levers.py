"""Levers: changes a platform can make to what its sellers experience, and their replay.

A :class:`Change` acts on each seller's events from event ``start`` on (events counted from
0 in the seller's time order):

* ``error_scale`` k >= 0 multiplies every recommendation's error, ``m' = truth + k (m - truth)``;
  fidelity is recomputed, ``f' = 1 - min(1, |m' - truth| / scale)`` (``f' = 1 - k (1 - f)``
  when the logs give fidelity without the truth);
* ``feedback_rate`` p shows the outcome after each event with probability p (None keeps the
  logged feedback);
* ``feedback_added`` x shows the outcome after an event that had none with probability x
  (the share of hidden outcomes made visible: x = 0 is the status quo);
* ``initial_trust_shift`` d moves every seller's initial trust on the logit scale,
  ``logit alpha_1' = logit alpha_1 + d`` (an explanation given to new sellers; it acts at
  the start, so it needs ``start = 0``).

Feedback is drawn from one uniform ``U_it`` per seller and event (:func:`seller_uniforms`, a
hash of the seed, the seller and the event), the same in every scenario (common random numbers): shown when ``U_it < p`` (``feedback_rate``), or logged-or-``U_it < x``
(``feedback_added``). Scenarios are then compared seller by seller, not across independent
draws.

:func:`replay` follows the sampled sellers under a change, on their logged sequences, from
each seller's posterior over initial trust given its logged behaviour, and returns per-seller
totals of what adoption and profit are expected to be. Profit per event is the newsvendor's,
``price * min(q, truth) - unit_cost * q``, of the seller's quantity ``q``: the action
``alpha m' + (1 - alpha) own + sd_action e`` (continuous, expected over the action noise:
``E min(q, c) = mu - (mu - c) Phi((mu - c)/s) - s phi((mu - c)/s)`` for ``q ~ N(mu, s^2)``),
or ``m'`` if the seller follows and ``own`` if not (binary).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, logit, ndtr

from ...errors import InputError
from ..model import simulate_path
from ..parameters import rule_values

__all__ = ["Change", "LEVERS", "apply_change", "replay", "expected_profit", "parse_change", "parse_randomize",
           "change_of_logs", "posteriors", "node_posteriors", "seller_uniforms", "shifted_trust"]

# lever -> (lowest value, highest value, the status quo's value, what it does)
LEVERS = {
    "error_scale": (0.0, 10.0, 1.0, "multiplies the recommendation error (0.5 halves it)"),
    "feedback_rate": (0.0, 1.0, None, "probability the outcome is shown after an event"),
    "feedback_added": (0.0, 1.0, 0.0, "probability a hidden outcome is shown"),
    "initial_trust_shift": (-10.0, 10.0, 0.0, "shift of initial trust on the logit scale"),
}


@dataclass(frozen=True)
class Change:
    """A policy: each lever's value from event ``start`` on (the defaults are the status quo)."""

    error_scale: float = 1.0
    feedback_rate: float | None = None
    feedback_added: float = 0.0
    initial_trust_shift: float = 0.0
    start: int = 0

    def __post_init__(self):
        for name, (lo, hi, _, _) in LEVERS.items():
            v = getattr(self, name)
            if v is not None and not (lo <= float(v) <= hi):
                raise InputError(f"lever {name} = {v!r} is outside [{lo:g}, {hi:g}]")
        if self.start < 0:
            raise InputError(f"a change starts at event 0 or later, not {self.start}")
        if self.initial_trust_shift and self.start:
            raise InputError("initial_trust_shift acts on initial trust: it needs from=0")

    def is_status_quo(self) -> bool:
        return self == Change(start=self.start)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_change(text: str, option: str = "--change", extra=()) -> tuple[Change, dict]:
    """``LEVER=VALUE[,...][,from=T]``: the change, and the values of the ``extra`` names."""
    values, start, others = {}, 0, {}
    example = "e.g. error_scale=0.5,from=20"
    for part in str(text).split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            raise InputError(f"{option}: {part.strip()!r} is not NAME=VALUE ({example})")
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"{option}: {key}={value.strip()!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{option}: {key}={value.strip()} is not a finite number")
        if key == "from":
            if number < 0 or number != int(number) or number > 1e6:
                raise InputError(f"{option}: from={value.strip()} must be a whole event index from 0")
            start = int(number)
        elif key in LEVERS:
            values[key] = number
        elif key in extra:
            others[key] = number
        else:
            raise InputError(f"{option}: unknown name {key!r}; levers: {', '.join(LEVERS)}; also "
                             + ", ".join(f"{k}=" for k in ("from",) + tuple(extra)))
    if not values:
        raise InputError(f"{option}: name a lever ({', '.join(LEVERS)}), {example}")
    try:
        change = Change(start=start, **values)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None
    if change.is_status_quo():
        raise InputError(f"{option}: the levers given are the status quo (nothing changes)")
    return change, others


def parse_randomize(text: str) -> tuple[Change, float]:
    """``LEVER=VALUE[,LEVER=VALUE...],share=S[,from=T]`` (``trust generate --randomize``): the
    change the treated sellers get and the share of sellers treated."""
    change, others = parse_change(text, "--randomize", extra=("share",))
    share = others.get("share")
    if share is None:
        raise InputError("--randomize: give the share of sellers treated, e.g. error_scale=0.5,share=0.5,from=20")
    if not 0 < share < 1:
        raise InputError(f"--randomize: share={share:g} must be between 0 and 1 (both arms need sellers)")
    return change, share


def change_of_logs(truth: dict) -> Change | None:
    """The change recorded by ``trust generate --randomize`` in a ``truth.json``."""
    r = truth.get("randomize") if isinstance(truth, dict) else None
    if not isinstance(r, dict):
        return None
    return Change(start=int(r.get("from", 0)), **{k: float(v) for k, v in r.get("levers", {}).items() if k in LEVERS})


def apply_change(change: Change, rec, truth, fidelity, feedback, uniform, fidelity_scale):
    """Recommendations, fidelity and feedback (sellers, events) under ``change``, from event
    ``change.start`` on."""
    on = np.arange(rec.shape[1])[None, :] >= change.start
    k = change.error_scale
    if k != 1.0:
        if truth is not None and np.isfinite(truth).all():
            rec_k = truth + k * (rec - truth)
            fid_k = 1 - np.minimum(1, np.abs(rec_k - truth) / fidelity_scale) if fidelity_scale else \
                np.clip(1 - k * (1 - fidelity), 0, 1)
        else:
            rec_k, fid_k = rec, np.clip(1 - k * (1 - fidelity), 0, 1)
        rec, fidelity = np.where(on, rec_k, rec), np.where(on, fid_k, fidelity)
    if change.feedback_rate is not None:
        feedback = np.where(on, uniform < change.feedback_rate, feedback)
    if change.feedback_added:
        feedback = np.where(on, feedback | (uniform < change.feedback_added), feedback)
    return rec, fidelity, feedback


def shifted_trust(alpha, change: Change):
    """Initial trust under ``change``: ``logit alpha' = logit alpha + initial_trust_shift``."""
    if not change.initial_trust_shift:
        return alpha
    return expit(logit(np.clip(alpha, 1e-12, 1 - 1e-12)) + change.initial_trust_shift)


def expected_profit(mean_q, truth, price, unit_cost, sd=0.0):
    """``E[price min(q, truth) - unit_cost q]`` for ``q ~ N(mean_q, sd^2)`` (``sd = 0``: at ``mean_q``)."""
    if not sd:
        return price * np.minimum(mean_q, truth) - unit_cost * mean_q
    z = (mean_q - truth) / sd
    excess = (mean_q - truth) * ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return price * (mean_q - excess) - unit_cost * mean_q


def node_posteriors(batch: dict, params: dict, kind: str, rule: str, nodes, log_w, n0) -> np.ndarray:
    """A batch's posterior over the initial-trust nodes (sellers, nodes) given the sellers'
    logged decisions, in plain numpy (what Spark's workers run; the tests hold it to the
    automatic-differentiation reference): ``log w_q + sum_t log p(y_t | alpha_t(q))``
    normalised over ``q``, the node paths from :func:`simulate_path`."""
    nb = int(batch["n_sellers"])
    Q = len(nodes)
    T = batch["gap"].shape[1]
    values = rule_values(params, rule) if n0 is None else (np.tile(n0, nb), 0.0)
    paths = simulate_path(np.tile(nodes, nb), np.repeat(batch["fidelity"][:nb].astype(float), Q, axis=0),
                          np.repeat(batch["feedback"][:nb].astype(bool), Q, axis=0), *values, rule,
                          decay=params.get("decay", 0.0)).reshape(nb, Q, T)
    act = batch["act"][:nb].astype(float)[:, None, :]
    if kind == "continuous":
        sd = float(params["sd_action"])
        z = (act - paths * batch["gap"][:nb].astype(float)[:, None, :]) / sd
        lp = -0.5 * z * z - math.log(sd) - 0.5 * math.log(2 * math.pi)
    else:
        a = np.clip(paths, 1e-9, 1 - 1e-9)
        z = params["follow_slope"] * (np.log(a) - np.log1p(-a))
        lp = np.where(act > 0.5, -np.logaddexp(0, -z), -np.logaddexp(0, z))
    seen = (np.arange(T)[None, :] < batch["length"][:nb, None]) & batch["observed"][:nb].astype(bool)
    total = np.where(seen[:, None, :], lp, 0.0).sum(axis=2) + np.asarray(log_w)[None, :]
    total -= total.max(axis=1, keepdims=True)
    post = np.exp(total)
    return post / post.sum(axis=1, keepdims=True)


def seller_uniforms(sellers, T: int, seed: int) -> np.ndarray:
    """One uniform per seller and event, a function of (seed, seller id, event) alone: the
    same whichever sellers are replayed together, on one machine or on Spark (a SplitMix64
    hash of the three; text ids through an 8-byte BLAKE2 digest)."""
    sellers = np.asarray(sellers)
    if sellers.dtype.kind in "iu":
        keys = sellers.astype(np.int64).view(np.uint64)
    else:
        import hashlib
        keys = np.array([int.from_bytes(hashlib.blake2b(str(x).encode(), digest_size=8).digest(), "little")
                         for x in sellers], np.uint64)
    with np.errstate(over="ignore"):
        x = (keys[:, None] * np.uint64(0x9E3779B97F4A7C15) + np.arange(T, dtype=np.uint64)[None, :]
             + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0xD1B54A32D192ED03) + np.uint64(0x632BE59BD9B4E019))
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def posteriors(model, u, batches, params: dict | None = None) -> list[np.ndarray]:
    """Each batch's posterior over the initial-trust nodes at ``u`` (:func:`node_posteriors`)."""
    from ..parameters import to_natural
    params = params if params is not None else to_natural(u, model.kind, model.rule)
    nodes, log_w, n0 = model.grid(u)
    return [node_posteriors(b, params, model.kind, model.rule, nodes, log_w, n0) for b in batches]


def replay(batches, posts, nodes, n0, params: dict, kind: str, rule: str, change: Change,
           fidelity_scale, price: float = 1.0, unit_cost: float = 0.6, seed: int = 0,
           horizon: int | None = None) -> dict:
    """Per-seller totals over the events from ``change.start`` on (the first ``horizon`` of
    them when given) under ``change``: ``events``, ``adoption`` (expected trust, continuous;
    follow probability, binary), ``weight_num``/``weight_den`` (continuous: the seller's
    least-squares weight on the recommendation is their ratio, ``sum_t alpha_t d_t^2 /
    sum_t d_t^2`` with ``d_t = m'_t - own_t``), ``profit`` and ``profit_events`` (events with
    the truth logged)."""
    out = {k: [] for k in ("events", "adoption", "weight_num", "weight_den", "profit", "profit_events")}
    Q = len(nodes)
    start_nodes = shifted_trust(nodes, change)
    sd = float(params.get("sd_action", 0.0)) if kind == "continuous" else 0.0
    for b, post in zip(batches, posts):
        nb = int(b["n_sellers"])
        T_all = b["gap"].shape[1]
        # events after the horizon are not counted: the paths stop there
        T = T_all if horizon is None else min(T_all, change.start + horizon)
        uniform = seller_uniforms(b["seller"][:nb], T, seed)    # the same in every scenario
        t = np.arange(T)[None, :]
        valid = t < b["length"][:nb, None]
        rec = b["recommendation"][:nb, :T].astype(float)
        own = b["own"][:nb, :T].astype(float) if "own" in b else np.full((nb, T), np.nan)
        truth = b["truth"][:nb, :T].astype(float) if "truth" in b else None
        fid0 = b["fidelity"][:nb, :T].astype(float)
        rec_k, fid, feedback = apply_change(change, rec, truth, fid0, b["feedback"][:nb, :T].astype(bool),
                                            uniform, fidelity_scale)
        feedback = feedback & valid
        values = rule_values(params, rule) if n0 is None else (np.tile(n0, nb), 0.0)
        paths = simulate_path(np.tile(start_nodes, nb), np.repeat(np.clip(fid, 0, 1), Q, axis=0),
                              np.repeat(feedback, Q, axis=0), *values, rule,
                              decay=params.get("decay", 0.0)).reshape(nb, Q, T)
        counted = valid & (t >= change.start)
        if horizon is not None:
            counted &= t < change.start + horizon
        has_truth = truth is not None
        if kind == "continuous":
            adoption = np.einsum("bqt,bq->bt", paths, post)
            profit = expected_profit(adoption * rec_k + (1 - adoption) * own, truth, price, unit_cost, sd) \
                if has_truth else np.full((nb, T), np.nan)
        else:
            a = np.clip(paths, 1e-9, 1 - 1e-9)
            adoption = np.einsum("bqt,bq->bt", expit(params["follow_slope"] * (np.log(a) - np.log1p(-a))), post)
            profit = adoption * expected_profit(rec_k, truth, price, unit_cost) + \
                (1 - adoption) * expected_profit(own, truth, price, unit_cost) if has_truth else np.full((nb, T), np.nan)
        d2 = (rec_k - own) ** 2
        ok = counted & np.isfinite(profit)
        out["events"].append(counted.sum(axis=1))
        out["adoption"].append(np.where(counted, adoption, 0).sum(axis=1))
        out["weight_num"].append(np.where(counted, adoption * d2, 0).sum(axis=1))
        out["weight_den"].append(np.where(counted, d2, 0).sum(axis=1))
        out["profit"].append(np.where(ok, profit, 0).sum(axis=1))
        out["profit_events"].append(ok.sum(axis=1))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
