"""Figures of a model's predictions (``cheaptalk predict --figure``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_prediction(prediction, path) -> Path:
    """One panel per prediction table, one line per treatment; the reference lines of the
    forecast-sharing game (truthful reports, credulous and babbling capacity) are dashed."""
    # forecast sharing: the two schedules; finite games: mean message by state, mean action by message
    tables = [(name, t) for name, t in prediction.tables.items()
              if "schedule" in name or name in ("mean_message", "mean_action")] or list(prediction.tables.items())[:2]
    fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.5), squeeze=False)
    for ax, (title, table) in zip(axes[0], tables):
        x_col = table.columns[1]
        numeric = [c for c in table.columns[2:] if table[c].dtype.kind == "f"]
        y_col = numeric[0]
        for i, (treatment, rows) in enumerate(table.groupby("treatment", sort=False)):
            color = f"C{i}"
            ax.plot(rows[x_col], rows[y_col], color=color, lw=2, label=str(treatment))
            if "credulous" in rows:
                ax.plot(rows[x_col], rows["credulous"], color=color, ls="--", lw=0.8)
                ax.plot(rows[x_col], rows["babbling"], color=color, ls=":", lw=0.8)
        if x_col in ("forecast", "state"):
            ax.plot(table[x_col], table[x_col], color="grey", ls="--", lw=0.8, label="truthful")
        ax.set_xlabel(x_col.replace("_", " "))
        ax.set_ylabel(y_col.replace("_", " "))
        ax.set_title(title.replace("_", " "))
        ax.legend(fontsize=8)
    fig.suptitle(f"{prediction.model} on {prediction.game}"
                 + (" (dashed: credulous, dotted: babbling)" if any("credulous" in t for _, t in tables) else ""))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
