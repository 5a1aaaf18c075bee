#!/usr/bin/env python3
"""Build the bundled default data set: SYNTHETIC forecast-sharing lab data.

The data are simulated, not observed. The population mixes trust-embedded and level-k
subjects (the `mixture` model of `cheaptalk`), 40 manufacturers and 40 suppliers per
treatment of the `forecast-sharing` game (capacity cost low/high x market uncertainty
low/high), 30 rounds, strangers re-matched every round. Its parameters are chosen so that,
pooled over treatments, the OLS slope of report on forecast lies in [0.64, 0.75] and of
capacity on report in [0.59, 0.66], the range published for the forecast-sharing
experiment and its replications (Özer, Zheng & Chen 2011; Davis et al. 2023).

Run from the repository root:  python scripts/make_default_data.py
It rewrites src/cheaptalk/datasets/forecast_sharing_synthetic.csv and the truth file beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cheaptalk.games import load_game
from cheaptalk.models import get_model

SEED = 20111
SUBJECTS_PER_ROLE = 40
ROUNDS = 30
OUT = Path(__file__).resolve().parents[1] / "src" / "cheaptalk" / "datasets"

# the documented population (names as in `cheaptalk describe mixture`)
TRUE_PARAMETERS = {
    "sender_share_trust": 0.50,          # half the manufacturers are trust-embedded, half level-k
    "receiver_share_trust": 0.75,        # 75% of suppliers are trust-embedded, 25% level-k
    "trust_at_0": 0.10, "trust_at_1": 0.20, "trust_mean": 0.60, "trust_concentration": 4.0,
    "trustworthiness_at_0": 0.15, "trustworthiness_at_1": 0.10,
    "trustworthiness_mean": 0.20, "trustworthiness_concentration": 3.0,
    "sender_level1_share": 0.70, "receiver_level2_share": 0.45,
    "sd_report": 14.0, "sd_capacity": 14.0,
}


def slopes(data):
    s = data[data.role == "sender"]
    r = data[data.role == "receiver"]
    return float(np.polyfit(s.state, s.message, 1)[0]), float(np.polyfit(r.message, r.action, 1)[0])


def main() -> None:
    game = load_game("forecast-sharing")
    model = get_model("mixture", game)
    data = model.simulate(TRUE_PARAMETERS, SUBJECTS_PER_ROLE, ROUNDS, seed=SEED)
    data.insert(0, "synthetic", 1)
    report_slope, capacity_slope = slopes(data)
    assert 0.64 <= report_slope <= 0.75, f"report slope {report_slope:.3f} outside [0.64, 0.75]"
    assert 0.59 <= capacity_slope <= 0.66, f"capacity slope {capacity_slope:.3f} outside [0.59, 0.66]"
    OUT.mkdir(parents=True, exist_ok=True)
    data.round({"state": 3, "message": 3, "action": 3}).to_csv(OUT / "forecast_sharing_synthetic.csv", index=False)
    truth = {
        "description": "SYNTHETIC forecast-sharing lab data simulated from a mixture of trust-embedded "
                       "and level-k subjects; not observed behaviour",
        "game": "forecast-sharing", "model": "mixture", "families": ["trust", "levelk"],
        "seed": SEED, "subjects_per_role_and_treatment": SUBJECTS_PER_ROLE, "rounds": ROUNDS,
        "parameters": TRUE_PARAMETERS,
        "pooled_ols_slopes": {"report_on_forecast": round(report_slope, 4),
                              "capacity_on_report": round(capacity_slope, 4)},
    }
    (OUT / "forecast_sharing_synthetic.truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(f"wrote {len(data)} synthetic decisions; pooled slopes: report on forecast "
          f"{report_slope:.3f}, capacity on report {capacity_slope:.3f}")


if __name__ == "__main__":
    main()
