"""``sklpoison sweep`` says why it recommends no defence (κ = 0), and what to change."""

import numpy as np
import pytest

from sklpoison.__main__ import main
from sklpoison.cli._sweep import recommend_kappa


def _results(rows):
    """cv_results_ columns from (poison_rate, kappa, clean accuracy, attack success) rows."""
    col = lambda j: np.array([r[j] for r in rows], dtype=float)  # noqa: E731
    return {
        "param_poisontransformer__poison_rate": col(0),
        "param_gradregnetclassifier__kappa": col(1),
        "mean_test_clean_accuracy": col(2),
        "mean_test_neg_asr": 0.0 - col(3),
    }


def test_a_defence_that_helps_is_recommended_without_comment():
    text = recommend_kappa(_results([(0.05, 0, 0.95, 0.9), (0.05, 1, 0.93, 0.2)]), 0.9)
    assert "kappa=1 " in text and "no defence" not in text


def test_kappa_zero_because_no_defended_model_met_the_floor():
    rows = [(0.05, 0, 0.95, 0.9), (0.05, 0.5, 0.88, 0.4), (0.05, 2, 0.80, 0.1)]
    text = recommend_kappa(_results(rows), 0.9, model="cnn")
    assert "kappa=0 (attack success 0.900" in text
    assert "kappa=0 is no defence: no kappa > 0 met the clean-accuracy floor" in text
    assert "kappa=0.5, reached 0.880" in text  # the closest miss
    assert "--kappa 0 0.05 0.125" in text and "--epochs" in text
    assert "--min-clean-accuracy" in text


def test_kappa_zero_because_the_defence_did_not_lower_attack_success():
    rows = [(0.05, 0, 0.95, 0.30), (0.05, 0.5, 0.94, 0.35), (0.05, 2, 0.93, 0.31)]
    text = recommend_kappa(_results(rows), 0.9, model="krr")
    assert "kappa=0 is no defence: the defence did not lower attack success" in text
    assert "kappa=2, had attack success 0.310 against 0.300" in text
    assert "larger kappa" in text and "--epochs" not in text  # kernel ridge has no epochs


def test_no_kappa_met_the_floor():
    rows = [(0.05, 0, 0.70, 0.9), (0.05, 1, 0.60, 0.2)]
    text = recommend_kappa(_results(rows), 0.9, model="cnn")
    assert text.startswith("no kappa recommended: no kappa met the clean-accuracy floor")
    assert "best clean accuracy in the sweep is 0.7000" in text and "--epochs" in text


@pytest.mark.parametrize("kappas", [["0", "1e6"]])
def test_the_cli_prints_the_reason(kappas, tmp_path, capsys):
    # the kernel model with a huge kappa: it underfits far below the floor, so kappa=0 wins
    argv = ["sweep", "--poison-rate", "0.05", "--kappa", *kappas, "--cv", "2", "--n-samples", "200"]
    assert main([*argv, "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kappa=0 is no defence: no kappa > 0 met the clean-accuracy floor" in out
