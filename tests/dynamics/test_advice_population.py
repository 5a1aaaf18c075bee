"""Population fits of trust over time on the real advice-taking data (Leong & Zaki 2018, study 3),
imported as trust logs with the data set's map: nested models never end below the models they
contain, the quadrature does not move the log-likelihood, and initial trust by advisor forecasts
the first bets. Skipped when the data are not in ../shared/data."""

import json
from pathlib import Path

import numpy as np
import pytest

from cheaptalk.cli.main import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "advice"
pytestmark = pytest.mark.skipif(not (SHARED / "dSocial_gen1.csv").exists(),
                                reason="the real data set is not in ../shared/data")


@pytest.fixture(scope="module")
def advice(tmp_path_factory):
    """The generations' trust logs, imported once through `--dataset` (into a fresh cache)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CHEAPTALK_DATA_MIRROR", str(SHARED.parent))
    mp.setenv("CHEAPTALK_DATA_DIR", str(tmp_path_factory.mktemp("cache")))
    from cheaptalk.datasets.public import dataset_trust_logs
    yield {part: dataset_trust_logs(f"advice-taking:{part}") for part in ("gen1", "gen2")}
    mp.undo()


def _engine(logs, shared: bool):
    from cheaptalk.dynamics.engines import get_engine
    from cheaptalk.dynamics.engines.memory import SharedTrustEngine
    from cheaptalk.dynamics.logs import resolve_logs
    engine = get_engine("local", resolve_logs(logs))
    return SharedTrustEngine(engine) if shared else engine


def test_the_map_imports_every_row_as_an_event_of_a_subject_and_advisor(advice):
    import pandas as pd
    events = pd.read_parquet(advice["gen1"] / "events")
    sellers = pd.read_parquet(advice["gen1"] / "sellers.parquet")
    assert len(events) == 5160 and events.seller.nunique() == 258 and sellers.subject.nunique() == 86
    # the 32 missed trials are events without a decision and without feedback
    missed = events.followed.isna()
    assert missed.sum() == 32 and (events.feedback[missed] == 0).all() and (events.feedback[~missed] == 1).all()
    assert sorted(events.segment.unique()) == ["advisor 1", "advisor 2", "advisor 3"]
    import_report = json.loads((advice["gen1"] / "schema.json").read_text())["import"]
    assert import_report["excluded"] == {} and import_report["events"] == 5160


def test_nested_rules_never_end_below_the_rules_they_contain(advice):
    """With a shared initial trust per subject: asymmetric and symmetric+decay contain
    symmetric, so their log-likelihoods are at least its; every fit's log-likelihood is within
    0.01 of a refit on twice its nodes. Without it (each advisor its own initial trust), on
    the default nodes, the same order holds."""
    from cheaptalk.dynamics.compare import compare_rules
    from cheaptalk.dynamics.estimate import fit_trust
    comparison = compare_rules(_engine(advice["gen1"], True), ["symmetric", "asymmetric", "symmetric+decay"])
    fits = comparison.fits
    assert fits["asymmetric"].loglik >= fits["symmetric"].loglik - 1e-6
    assert fits["symmetric+decay"].loglik >= fits["symmetric"].loglik - 1e-6
    for rule, fit in fits.items():
        q = fit.quadrature
        assert q["checked"] and q["stable"] and q["checks"][-1]["loglik_change"] < 0.01, (rule, q)
        assert q["checks"][-1]["nodes"] == fit.n_nodes and q["checks"][-1]["against"] == 2 * fit.n_nodes
        assert any(s["start"] == "the symmetric estimate" for s in fit.starts) or rule == "symmetric"
    # missed trials are the only events without feedback: decay rests on them, and says so
    assert any("decay rests on the" in w for w in fits["symmetric+decay"].warnings)
    engine = _engine(advice["gen1"], False)
    symmetric = fit_trust(engine, rule="symmetric", n_nodes=20, check_quadrature=False)
    for rule in ("asymmetric", "confirmation"):
        larger = fit_trust(engine, rule=rule, n_nodes=20, check_quadrature=False, nested=symmetric)
        assert larger.loglik >= symmetric.loglik - 1e-6, rule


def test_initial_trust_by_advisor_forecasts_the_first_bets(advice):
    """Generation 2 saw ratings of the advisors before the first bet: by advisor, the model's
    forecast of first-encounter adoption is within 0.1 of what the subjects did; with one
    mean of initial trust it cannot be, and the log-likelihood is lower."""
    from cheaptalk.dynamics.estimate import fit_trust
    engine = _engine(advice["gen2"], shared=False)
    by_advisor = fit_trust(engine, rule="symmetric", initial_trust_by="segment")
    one_mean = fit_trust(engine, rule="symmetric")
    assert by_advisor.segments == ("advisor 1", "advisor 2", "advisor 3")
    assert by_advisor.loglik > one_mean.loglik + 10
    observed, forecast = {}, {}
    for b in engine.batches(event_values=True):
        path = by_advisor.model().filtered(by_advisor.u, b)
        for i in range(int(b["n_sellers"])):
            t = int(np.flatnonzero(b["observed"][i])[0])
            observed.setdefault(b["segment"][i], []).append(float(b["act"][i, t]))
            forecast.setdefault(b["segment"][i], []).append(float(path["predicted_adoption"][i, t]))
    for segment in observed:
        assert abs(np.mean(forecast[segment]) - np.mean(observed[segment])) < 0.1, segment
    assert np.mean(observed["advisor 1"]) > 0.8 and np.mean(observed["advisor 3"]) < 0.2


def test_trust_fit_reads_the_data_set_by_name(advice, monkeypatch, capsys):
    monkeypatch.setenv("CHEAPTALK_DATA_MIRROR", str(SHARED.parent))
    monkeypatch.setenv("CHEAPTALK_DATA_DIR", str(advice["gen1"].parents[1]))
    assert main(["trust", "fit", "--dataset", "advice-taking:gen1", "--rule", "symmetric", "--shared-initial-trust",
                 "--quiet", "--json", "-"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["n_subjects"] == 86 and fit["cluster"] == "subject" and fit["adoption"] == "binary"
    assert fit["diagnostics"]["quadrature"]["stable"] is True
    assert main(["trust", "fit", "--dataset", "advice-taking:gen1", "--logs", str(advice["gen1"])]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["trust", "fit", "--dataset", "bullshitter"]) == 2
    assert "not repeated play" in capsys.readouterr().err
