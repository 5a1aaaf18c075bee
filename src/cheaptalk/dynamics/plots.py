"""Figures of a dynamic trust fit (matplotlib, written to files)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_trajectories", "plot_after_feedback", "plot_whatif", "plot_rules", "plot_adoption"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _segment_order(names) -> list:
    """Segments from high to low fidelity where their names say so, the others after them
    in alphabetical order."""
    rank = {"high": 0, "mid": 1, "low": 2}
    return sorted(names, key=lambda n: (rank.get(str(n).split()[0].lower(), 3), str(n)))


def plot_trajectories(aggregates: dict, path: str | Path):
    """Mean filtered trust at each event index, one line per fidelity segment, with a band
    from the mean lower to the mean upper bound of the sellers' own intervals (how well one
    seller's trust is known from its history)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    intervals = aggregates.get("segment_intervals", {})
    for seg in _segment_order(aggregates["segments"]):
        mean = aggregates["segments"][seg]
        n = aggregates["segment_sellers"].get(seg, 0)
        x = np.arange(1, len(mean) + 1)
        line, = ax.plot(x, mean, label=f"{seg} (n={n:,})")
        if seg in intervals:
            lo, hi = intervals[seg]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    if intervals:
        level = aggregates.get("interval_level", 0.9)
        ax.plot([], [], color="grey", alpha=0.4, lw=6,
                label=f"mean {level:.0%} interval of a seller's trust")
    ax.set_xlabel("event")
    ax.set_ylabel("mean filtered trust")
    ax.set_ylim(0, 1)
    ax.set_title("Trust trajectories by fidelity segment")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_after_feedback(aggregates: dict, path: str | Path):
    """What the data show without a model: adoption at the decision right after feedback that
    the recommendation was right (fidelity >= 1/2) or wrong, by segment, with 95% intervals
    clustered by seller; beside it each rule's forecast of the same quantity (from the
    feedback seen, none of the seller's decisions). ``aggregates``: rule -> the output of
    :func:`cheaptalk.dynamics.trajectories.write_trajectories`."""
    plt = _plt()
    rules = list(aggregates)
    first = aggregates[rules[0]]
    data = first.get("after_feedback", {})
    segments = _segment_order(data)
    if not segments:
        return
    fig, ax = plt.subplots(figsize=(1.9 * len(segments) + 3.2, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / (1 + len(rules))
    binary = first.get("adoption_measure") == "share followed"
    for j, seg in enumerate(segments):
        for side, (name, marker) in enumerate((("right", "o"), ("wrong", "s"))):
            x0 = 2 * j + side
            obs = data[seg].get(name, {})
            if obs.get("observed") is None:
                continue
            lo, hi = _interval(obs["observed"], obs["se"], share=binary)
            x = x0 - 0.4 + width / 2
            ax.errorbar(x, obs["observed"], yerr=[[obs["observed"] - lo], [hi - obs["observed"]]], fmt=marker,
                        color="black", capsize=3, ms=6,
                        label=f"data after a {name} recommendation (95% CI)" if j == 0 else None)
            ax.annotate(f"{obs['sellers']:,}", (x, lo), textcoords="offset points", xytext=(0, -10), ha="center",
                        fontsize=6, color="0.4")
            for k, rule in enumerate(rules):
                pred = aggregates[rule].get("after_feedback", {}).get(seg, {}).get(name, {}).get("predicted")
                if pred is not None:
                    ax.plot(x0 - 0.4 + width * (k + 1.5), pred, marker, mfc="none", color=colors[k % len(colors)],
                            ms=7, mew=1.6, label=(rule if j == 0 and side == 0 else None))
    ax.set_xticks([2 * j + s for j in range(len(segments)) for s in (0, 1)],
                  [f"{seg}\nafter right" if s == 0 else "after wrong" for seg in segments for s in (0, 1)],
                  fontsize=8)
    ax.set_ylabel(first.get("adoption_measure", "adoption") + " at the next decision")
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.08 * (high - low), high)          # room for the counts under the points
    if binary:
        ax.set_ylim(-0.1, 1.05)
    ax.set_title("Adoption after right and wrong recommendations: data and each rule's forecast\n"
                 "(under each point: the sellers with such decisions)", fontsize=9)
    ax.grid(axis="y", color="0.9")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def _interval(value, se, share: bool) -> tuple[float, float]:
    """A 95% interval; for a share formed on the logit scale (so it stays in [0, 1])."""
    if se is None or not np.isfinite(se):
        return value, value
    if not share:
        return value - 1.96 * se, value + 1.96 * se
    p = min(max(value, 1e-6), 1 - 1e-6)
    half = 1.96 * se / (p * (1 - p))
    logit = np.log(p / (1 - p))
    return float(1 / (1 + np.exp(-(logit - half)))), float(1 / (1 + np.exp(-(logit + half))))


def _scenario_label(row) -> str:
    fb = row["feedback_rate"]
    return f"error x{row['error_scale']:g}, feedback {fb if isinstance(fb, str) else f'{fb:.0%}'}"


def plot_whatif(rows: list[dict], path: str | Path):
    """Left: mean trust at each event index under each scenario. Right: each scenario's
    change in profit per event against the baseline, with 95% intervals (seller-clustered;
    adoption instead when the logs have no own estimates, so no profit)."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    for r in rows:
        y = r["trust_by_event"]
        left.plot(np.arange(1, len(y) + 1), y, lw=2.2 if r["baseline"] else 1.3,
                  ls="-" if r["baseline"] else "--", label=_scenario_label(r) + (" (baseline)" if r["baseline"] else ""))
    left.set_xlabel("event")
    left.set_ylabel("mean trust")
    left.set_ylim(0, 1)
    left.set_title("Trust under each scenario")
    left.legend(fontsize=7)
    use_profit = all(np.isfinite(r["profit_change"]) for r in rows)
    key, what = ("profit_change", "profit per event") if use_profit else ("adoption_change", "adoption")
    others = [r for r in rows if not r["baseline"]]
    y = np.arange(len(others))
    est = np.array([r[key] for r in others])
    se = np.array([r.get(key + "_se_total", r[key + "_se"]) for r in others])
    right.barh(y, est, xerr=1.96 * np.where(np.isfinite(se), se, 0), color="tab:blue", alpha=0.7,
               error_kw={"capsize": 3})
    right.set_yticks(y, [_scenario_label(r) for r in others], fontsize=8)
    right.axvline(0, color="grey", lw=0.5)
    right.invert_yaxis()
    right.set_xlabel(f"change in {what} vs the baseline (95% interval)")
    right.set_title("What better fidelity or more feedback is worth")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _merge_identical(aggregates: dict, tol: float = 0.005) -> dict:
    """``{shown rule: [rules drawn as it]}``: rules whose trust by event and response to
    feedback lie within ``tol`` of an earlier rule's everywhere are drawn once, named together
    in the legend, so that no line hides under another."""
    def curves(a):
        parts = [np.asarray(a["segments"][k], float) for k in sorted(a["segments"])]
        parts.append(np.asarray(a.get("change", []), float))
        return parts

    groups: dict = {}
    for rule, agg in aggregates.items():
        mine = curves(agg)
        for head in groups:
            theirs = curves(aggregates[head])
            if len(mine) == len(theirs) and all(x.shape == y.shape and (x.size == 0 or np.max(np.abs(x - y)) < tol)
                                                for x, y in zip(mine, theirs)):
                groups[head].append(rule)
                break
        else:
            groups[rule] = [rule]
    return groups


def _group_label(members) -> str:
    return members[0] if len(members) == 1 else " = ".join(members) + " (identical here)"


def plot_rules(aggregates: dict, path: str | Path):
    """Where the learning rules disagree: for each rule (``aggregates``: rule -> the output of
    :func:`cheaptalk.dynamics.trajectories.write_trajectories`), the mean filtered trust at
    each event index, one panel per segment, and the filtered trust change after feedback
    against the fidelity gap ``f_t - alpha_t``."""
    plt = _plt()
    groups = _merge_identical(aggregates)
    rules = list(groups)
    segments = _segment_order(set().union(*(a["segments"] for a in aggregates.values())))
    fig, axes = plt.subplots(1, len(segments) + 1, figsize=(3.4 * (len(segments) + 1) + 1.2, 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, seg in enumerate(segments):
        ax = axes[0, j]
        for k, rule in enumerate(rules):
            mean = aggregates[rule]["segments"].get(seg)
            if mean is not None:
                ax.plot(np.arange(1, len(mean) + 1), mean, color=colors[k % len(colors)],
                        label=_group_label(groups[rule]))
        ax.set_title(f"segment {seg}", fontsize=9)
        ax.set_xlabel("event")
        ax.set_ylim(0, 1)
        if j == 0:
            ax.set_ylabel("mean filtered trust")
    ax = axes[0, -1]
    for k, rule in enumerate(rules):
        a = aggregates[rule]
        if len(a.get("gap", [])):
            ax.plot(a["gap"], a["change"], "o-", ms=3, color=colors[k % len(colors)],
                    label=_group_label(groups[rule]))
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("fidelity minus trust, f_t - alpha_t")
    ax.set_ylabel("trust change after feedback")
    ax.set_title("response to feedback", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_adoption(aggregates: dict, path: str | Path):
    """Observed adoption against each rule's prediction, by event index, one panel per
    segment (``aggregates``: rule -> the output of
    :func:`cheaptalk.dynamics.trajectories.write_trajectories`; one entry for a single fit).
    The predictions use the feedback each seller saw but none of its decisions, so a rule
    that tracks the observed points is one that forecasts how adoption evolves."""
    plt = _plt()
    rules = list(aggregates)
    first = aggregates[rules[0]]
    segments = _segment_order(first.get("adoption", {}))
    if not segments:
        return
    fig, axes = plt.subplots(1, len(segments), figsize=(3.4 * len(segments) + 1.6, 3.4), squeeze=False,
                             sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, seg in enumerate(segments):
        ax = axes[0, j]
        obs = first["adoption"][seg]
        ax.plot(obs["event"], obs["observed"], "o", ms=2.5, color="black", alpha=0.6,
                label="observed" if j == 0 else None)
        for k, rule in enumerate(rules):
            pred = aggregates[rule]["adoption"].get(seg)
            if pred is not None:
                ax.plot(pred["event"], pred["predicted"], color=colors[k % len(colors)], lw=1.6,
                        label=(rule if len(rules) > 1 else "predicted") if j == 0 else None)
        n = first["segment_sellers"].get(seg, 0)
        ax.set_title(f"{seg} (n={n:,})", fontsize=9)
        ax.set_xlabel("event")
        if j == 0:
            ax.set_ylabel(first.get("adoption_measure", "adoption"))
    fig.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Adoption: observed and predicted from the feedback seen", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_effect(result: dict, path: str | Path):
    """One panel per outcome: the experiment's causal estimate (the data) and the trust model's
    prediction of the same contrast, overall and by segment, each with its 95% interval."""
    plt = _plt()
    outcomes = list(result["outcomes"].items())
    fig, axes = plt.subplots(1, max(1, len(outcomes)), figsize=(5.5 * max(1, len(outcomes)), 3.8), squeeze=False)
    for ax, (outcome, e) in zip(axes[0], outcomes):
        labels = ["all"] + list(e["causal"].get("by_segment", {}))
        for offset, who, color in ((-0.15, "causal", "black"), (0.15, "model", "tab:orange")):
            if who not in e:
                continue
            entries = [e[who]] + [e[who].get("by_segment", {}).get(s) for s in labels[1:]]
            ys = [i + offset for i, x in enumerate(entries) if x]
            est = [x["estimate"] for x in entries if x]
            half = [1.96 * x["se"] if math.isfinite(x["se"]) else 0 for x in entries if x]
            ax.errorbar(est, ys, xerr=half, fmt="o", color=color, capsize=3,
                        label="experiment (double ML)" if who == "causal" else
                        f"trust model ({result.get('fit', {}).get('rule', '')}, fitted on control)")
        ax.set_yticks(range(len(labels)), labels)
        ax.axvline(0, color="grey", lw=0.5)
        ax.invert_yaxis()
        what = "adoption" if outcome == "adoption" else "profit per event"
        ax.set_xlabel(f"effect on {what} (95% interval)")
        d = e.get("difference")
        ax.set_title(f"{outcome}" + (f": difference p = {d['p_value']:.2g}" if d else ""), fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_plan(plans: dict, path: str | Path):
    """Left: the best plan's gain over the status quo at each budget (one line per rule), the
    chosen plan with its 95% interval. Right: where the budget goes, cost per seller by
    segment and lever (the first rule's plan)."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for rule, plan in plans.items():
        f = plan["frontier"]
        base = plan["status_quo_value"]
        left.plot([x["budget"] for x in f], [x["value"] - base for x in f], drawstyle="steps-post", label=rule)
        e = plan["against_status_quo"]
        left.errorbar([plan["cost"]], [e["gain"]], yerr=[[e["gain"] - e["interval_95"][0]],
                                                        [e["interval_95"][1] - e["gain"]]], fmt="o", capsize=3)
    left.axvline(next(iter(plans.values()))["budget"], color="grey", ls=":", lw=1)
    left.set_xlabel("budget")
    left.set_ylabel("gain over the status quo")
    left.set_title("Best plan's gain by budget (dotted: the budget)", fontsize=10)
    left.legend(fontsize=8, title="rule")
    plan = next(iter(plans.values()))
    segments = list(plan["plan"])
    costs = {lv["name"]: dict(zip(lv["levels"], lv["cost"])) for lv in plan["levers"]}
    bottom = np.zeros(len(segments))
    for name in costs:
        spent = np.array([costs[name].get(plan["plan"][s]["levers"].get(name), 0.0) for s in segments])
        right.bar(segments, spent, bottom=bottom, label=name)
        bottom += spent
    right.set_ylabel("cost per seller")
    right.set_title(f"Where the budget goes (rule {plan['rule']})", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
