"""The figure of a design: information by treatment, with Monte Carlo intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_information(report, path) -> Path:
    """Bars of the expected information of one subject's panel and of one decision, by
    treatment (best first) and role, with +-2 Monte Carlo standard errors; the dashed line
    is the most any data can carry, ``log J`` per role."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = list(report.ranking("panel")["treatment"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(order) + 2), sharey=True)
    for ax, unit, title in ((axes[0], "panel", f"one subject ({report.rounds} rounds)"),
                            (axes[1], "decision", "one decision")):
        t = report.table[report.table["unit"] == unit]
        y = np.arange(len(order))
        left = np.zeros(len(order))
        for role, color in (("sender", "#1f77b4"), ("receiver", "#ff7f0e")):
            part = t[t["role"] == role].set_index("treatment").reindex(order)
            values = part["information"].fillna(0).to_numpy()
            ax.barh(y, values, left=left, color=color, label=role,
                    xerr=2 * part["se"].fillna(0).to_numpy(), error_kw={"elinewidth": 0.8, "capsize": 2})
            left = left + values
        ax.axvline(2 * np.log(len(report.labels)), color="grey", ls="--", lw=0.8)
        ax.set_yticks(y, order)
        ax.invert_yaxis()
        ax.set_xlabel("expected information (nats)")
        ax.set_title(title)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Which treatment tells {', '.join(report.labels)} apart (dashed: the most data can tell, "
                 f"log {len(report.labels)} per role, twice that for both)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
