"""Games: presets, game files, safe payoff formulas, closed-form benchmarks."""

import numpy as np
import pytest

from cheaptalk.games import FormulaError, GameFileError, Formula, load_game


def test_presets_load_with_treatments():
    fs = load_game("forecast-sharing")
    assert list(fs.treatments) == ["LC-LU", "LC-HU", "HC-LU", "HC-HU"]
    assert fs.game("HC-HU").c == 0.5 and fs.game("HC-HU").noise_half_width == 60
    cs = load_game("crawford-sobel")
    assert cs.game().sender_payoff.shape == (5, 5, 17)


def test_newsvendor_closed_forms():
    g = load_game("forecast-sharing").game("LC-LU")   # c=.25, w=.75: rho=2/3, eps~U[-20,20]
    assert g.rho == pytest.approx(2 / 3)
    assert g.z_star == pytest.approx(-20 + 40 * 2 / 3)
    # babbling: F_D^-1(rho) for D = U[50,250] + U[-20,20]; in the middle of the trapezoid
    # F_D is linear, F_D(k) = (k - 50) / 200, so K = 50 + 200 * rho
    assert g.babbling_capacity() == pytest.approx(50 + 200 * 2 / 3, abs=1e-3)


def test_expected_sales_matches_monte_carlo():
    g = load_game("forecast-sharing").game("HC-HU")
    rng = np.random.default_rng(0)
    eps = g.noise.sample(rng, 400_000)
    for xi, k in [(100.0, 90.0), (100.0, 150.0), (200.0, 200.0)]:
        assert g.expected_sales(xi, k) == pytest.approx(np.minimum(xi + eps, k).mean(), abs=0.1)


def test_formula_rejects_code():
    for bad in ["__import__('os').system('echo hi')", "s.__class__", "[x for x in s]",
                "lambda: 1", "open('f')", "a if s else __builtins__"]:
        with pytest.raises(FormulaError):
            Formula(bad, variables={"s", "a", "m"})
    f = Formula("110 - 10 * abs(a - s - b) ** 1.4", variables={"s", "a", "m"}, constants={"b": 1})
    assert float(f(s=1.0, a=2.0, m=1.0)) == pytest.approx(110.0)


def test_game_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('kind = "finite"\n[states]\nvalues=[1,2]\n[actions]\nvalues=[1,2]\n'
                    '[payoffs]\nsender = "os.system(1)"\nreceiver = "a"\n')
    with pytest.raises(FormulaError, match="bad.toml"):
        load_game(path)
    path.write_text('kind = "forecast"\n[parameters]\nc = 0.9\n')
    with pytest.raises(GameFileError, match="bad.toml"):
        load_game(path)
