"""Tests of the κ×θ sweep helpers, the trade-off Display and ``sklpoison sweep``."""

import csv
import itertools

import matplotlib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

matplotlib.use("Agg")

from sklpoison.__main__ import main  # noqa: E402
from sklpoison.cli import _sweep  # noqa: E402
from sklpoison.cli._tables import cv_results_to_csv, format_tradeoff_table  # noqa: E402
from sklpoison.model_selection import pareto_front, select_kappa, tradeoff_table  # noqa: E402
from sklpoison.plotting import SafetyEfficacyDisplay  # noqa: E402


def _cv_results(rows, kappa="model__kappa", poison_rate="poisontransformer__poison_rate"):
    """Hand-made cv_results_ from (poison_rate, kappa, clean accuracy, asr) rows (GridSearchCV)."""
    rows = list(rows)
    col = lambda j: np.ma.MaskedArray([r[j] for r in rows], mask=False, dtype=object)  # noqa: E731
    res = {
        f"param_{poison_rate}": col(0),
        f"param_{kappa}": col(1),
        "params": [{poison_rate: r[0], kappa: r[1]} for r in rows],
        "mean_test_clean_accuracy": np.array([r[2] for r in rows]),
        "std_test_clean_accuracy": np.full(len(rows), 0.01),
        # neg_asr_scorer's columns: minus the attack success rate (greater is better)
        "mean_test_neg_asr": 0.0 - np.array([r[3] for r in rows]),
        "std_test_neg_asr": np.full(len(rows), 0.02),
    }
    return res


# rows in GridSearchCV order (poison_rate outer, kappa inner, but deliberately shuffled kappa)
ROWS = [
    (0.05, 1.0, 0.93, 0.30),
    (0.05, 0.0, 0.97, 0.95),
    (0.05, 10.0, 0.60, 0.05),
    (0.1, 0.0, 0.96, 0.99),
    (0.1, 1.0, 0.91, 0.50),
    (0.1, 10.0, 0.55, 0.10),
]


def test_tradeoff_table_sorts_and_resolves_parameters():
    table = tradeoff_table(_cv_results(ROWS))
    assert table.kappa_param == "model__kappa"
    assert table.poison_rate_param == "poisontransformer__poison_rate"
    assert_array_equal(table.poison_rate, [0.05, 0.05, 0.05, 0.1, 0.1, 0.1])
    assert_array_equal(table.kappa, [0.0, 1.0, 10.0, 0.0, 1.0, 10.0])
    assert_array_equal(table.asr, [0.95, 0.30, 0.05, 0.99, 0.50, 0.10])
    assert_array_equal(table.index, [1, 0, 2, 3, 4, 5])
    text = format_tradeoff_table(table)
    assert len(text.splitlines()) == 2 + len(ROWS) and "0.950 ± 0.020" in text


def test_tradeoff_table_errors():
    res = _cv_results(ROWS)
    res["param_other__kappa"] = res["param_model__kappa"]
    with pytest.raises(ValueError, match="several parameter column"):
        tradeoff_table(res)
    assert tradeoff_table(res, kappa_param="other__kappa").kappa_param == "other__kappa"
    with pytest.raises(ValueError, match="mean_test_robust"):
        tradeoff_table(_cv_results(ROWS), asr_key="robust")
    with pytest.raises(ValueError, match="'param_nope'"):
        tradeoff_table(_cv_results(ROWS), kappa_param="nope")


def test_select_kappa_for_one_theta_and_worst_case():
    res = _cv_results(ROWS)
    at5 = select_kappa(res, min_clean_accuracy=0.9, poison_rate=0.05)
    assert (at5.kappa, at5.asr, at5.clean_accuracy) == (1.0, 0.30, 0.93)
    # worst case over poison_rate: kappa=1 has asr max(0.30, 0.50), accuracy min(0.93, 0.91)
    worst = select_kappa(res, min_clean_accuracy=0.9)
    assert (worst.kappa, worst.asr, worst.clean_accuracy) == (1.0, 0.50, 0.91)
    assert_array_equal(worst.candidates.feasible, [True, True, False])
    assert select_kappa(res, min_clean_accuracy=0.92).kappa == 0.0  # kappa=1 falls to 0.91
    assert select_kappa(res, min_clean_accuracy=0.5).kappa == 10.0
    with pytest.raises(ValueError, match="best clean accuracy in the sweep is 0.9600"):
        select_kappa(res, min_clean_accuracy=0.99)
    with pytest.raises(ValueError, match="poison_rate=0.2 is not in the sweep"):
        select_kappa(res, min_clean_accuracy=0.9, poison_rate=0.2)
    with pytest.raises(ValueError, match="min_clean_accuracy"):
        select_kappa(res, min_clean_accuracy=90)


def test_select_kappa_ties_prefer_accuracy_then_small_kappa():
    rows = [(0.1, 0.0, 0.95, 0.2), (0.1, 1.0, 0.97, 0.2), (0.1, 2.0, 0.97, 0.2)]
    assert select_kappa(_cv_results(rows), min_clean_accuracy=0.9).kappa == 1.0


def test_select_kappa_leaves_out_nan_scores_with_a_warning():
    # a failed fit (error_score=np.nan) gives NaN scores: that kappa is unknown, not safe
    nan = float("nan")
    rows = [(0.05, 0.0, 0.97, 0.95), (0.05, 1.0, 0.93, nan), (0.1, 0.0, 0.96, 0.99)]
    rows += [(0.1, 1.0, 0.91, 0.2), (0.05, 10.0, nan, 0.05), (0.1, 10.0, 0.9, 0.05)]
    with pytest.warns(UserWarning, match=r"kappa=\[1.0, 10.0\] have NaN scores"):
        choice = select_kappa(_cv_results(rows), min_clean_accuracy=0.5)
    assert (choice.kappa, choice.asr) == (0.0, 0.99)
    assert_array_equal(choice.candidates.feasible, [True, False, False])
    with pytest.warns(UserWarning, match="NaN scores"):
        with pytest.raises(ValueError, match=r"best clean accuracy .* is 0.9600 \(kappa=0\)\."):
            select_kappa(_cv_results(rows), min_clean_accuracy=0.99)
    all_nan = [(0.05, 0.0, nan, nan), (0.05, 1.0, 0.9, nan)]
    with pytest.warns(UserWarning, match="NaN scores"):
        with pytest.raises(ValueError, match="Every kappa has NaN scores"):
            select_kappa(_cv_results(all_nan), min_clean_accuracy=0.5)
    with pytest.raises(ValueError, match="cv_results has no rows"):
        select_kappa(_cv_results([]), min_clean_accuracy=0.5)


def test_pareto_front_matches_brute_force():
    rng = np.random.RandomState(0)
    acc, asr = rng.rand(40).round(1), rng.rand(40).round(1)  # many ties
    expected = [
        not any(
            acc[j] >= acc[i] and asr[j] <= asr[i] and (acc[j] > acc[i] or asr[j] < asr[i])
            for j in range(40)
        )
        for i in range(40)
    ]
    assert_array_equal(pareto_front(acc, asr), expected)
    with pytest.raises(ValueError, match="same length"):
        pareto_front([0.1, 0.2], [0.3])


def test_display_marks_the_pareto_front():
    import matplotlib.pyplot as plt

    # poison_rate=0.1, kappa=0.1 is dominated within its poison_rate by poison_rate=0.1, kappa=0
    res = _cv_results([*ROWS, (0.1, 0.1, 0.95, 0.995)])
    disp = SafetyEfficacyDisplay.from_cv_results(res)
    assert_array_equal(disp.pareto_mask_, [True] * 6 + [False])
    assert set(disp.pareto_lines_) == {0.05, 0.1}
    assert_allclose(disp.pareto_lines_[0.1].get_xdata(), [0.55, 0.91, 0.96])
    # over all points, the poison_rate=0.1 points are dominated by the poison_rate=0.05 point of
    # the same kappa: (0.93, .30) (0.97, .95) (0.60, .05) form the front
    glob = SafetyEfficacyDisplay.from_cv_results(res, pareto="all")
    assert_array_equal(glob.pareto_mask_, [True, True, True, False, False, False, False])
    assert_allclose(glob.pareto_lines_["all"].get_xdata(), [0.60, 0.93, 0.97])
    assert not SafetyEfficacyDisplay.from_cv_results(res, pareto=None).pareto_mask_.any()
    with pytest.raises(ValueError, match="pareto must be"):
        SafetyEfficacyDisplay.from_cv_results(res, pareto="best")
    assert set(disp.lines_) == {0.05, 0.1}
    # each curve runs along increasing kappa
    assert_allclose(disp.lines_[0.05].get_xdata(), [0.97, 0.93, 0.60])
    assert_allclose(disp.lines_[0.1].get_ydata(), [0.99, 0.995, 0.50, 0.10])
    assert disp.ax_.get_xlabel().startswith("clean accuracy")
    assert disp.figure_ is disp.ax_.figure
    fig, ax = plt.subplots()
    disp2 = SafetyEfficacyDisplay.from_cv_results(res, ax=ax, annotate=False, errorbars=True)
    assert disp2.ax_ is ax and disp2.figure_ is fig
    red = SafetyEfficacyDisplay.from_cv_results(res, front_kw={"color": "red"})
    assert all(line.get_color() == "red" for line in red.pareto_lines_.values())
    plt.close("all")


def test_cv_results_to_csv_round_trip(tmp_path):
    res = _cv_results(ROWS)
    cv_results_to_csv(res, tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(ROWS) and "params" not in rows[0]
    assert [float(r["param_model__kappa"]) for r in rows] == [r[1] for r in ROWS]
    back = {k: [float(r[k]) for r in rows] for k in rows[0]}
    assert_allclose(tradeoff_table(back).asr, tradeoff_table(res).asr)


@pytest.mark.parametrize(
    "model, extra", [("krr", []), ("mlp", ["--augment", "crop", "--epochs", "2"])]
)
def test_cli_sweep_writes_csv_and_png(tmp_path, capsys, model, extra):
    out = tmp_path / "report"
    argv = ["sweep", "--model", model, "--poison-rate", "0.0", "0.1", "--kappa", "0", "1", *extra]
    argv += ["--cv", "2", "--n-samples", "300", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "attack success" in printed and "kappa" in printed
    with open(out / "cv_results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    cells = {
        (
            float(r["param_poisontransformer__poison_rate"]),
            float(r[next(k for k in r if k.endswith("__kappa"))]),
        )
        for r in rows
    }
    assert cells == set(itertools.product([0.0, 0.1], [0.0, 1.0]))
    asr = {
        float(r["param_poisontransformer__poison_rate"]): -float(r["mean_test_neg_asr"])
        for r in rows
        if float(r[next(k for k in r if k.endswith("__kappa"))]) == 0.0
    }
    assert asr[0.1] > asr[0.0]  # poisoning at poison_rate=0.1 plants the backdoor
    png = (out / "safety_efficacy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- thread budgets


def _blas_threads():
    from threadpoolctl import threadpool_info

    return sorted({pool["num_threads"] for pool in threadpool_info()})


def test_thread_budget_limits_blas_and_torch_and_restores(monkeypatch):
    from sklpoison.model_selection import thread_budget
    from sklpoison.utils._threads import inner_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    assert inner_threads(1) == 1 and inner_threads(2) == 1  # default: one thread per fit
    assert inner_threads(2, threads=5) == 2 and inner_threads(4, threads=2) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "6")  # the usual variable is the budget
    assert inner_threads(1) == 6 and inner_threads(3) == 2
    for bad in (0, -1, 2.5, "2", True):  # nothing clamped or rounded silently
        with pytest.raises(ValueError, match="threads must be a whole number of CPU threads"):
            with thread_budget(n_jobs=1, threads=bad):
                pass  # pragma: no cover

    torch = pytest.importorskip("torch")
    before_torch, before_blas = torch.get_num_threads(), _blas_threads()
    with thread_budget(n_jobs=1, threads=1) as inner:
        assert inner == 1
        assert _blas_threads() == [1]
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before_torch and _blas_threads() == before_blas


def test_thread_budget_reaches_process_workers():
    # loky workers are separate processes: the budget reaches them through their environment
    from joblib import Parallel, delayed

    from sklpoison.model_selection import thread_budget

    with thread_budget(n_jobs=2, threads=2) as inner:
        assert inner == 1
        got = Parallel(n_jobs=2)(delayed(_blas_threads)() for _ in range(2))
    assert got == [[1], [1]]


def test_sweep_scores_do_not_depend_on_the_thread_count(tmp_path):
    argv = ["sweep", "--poison-rate", "0.0", "0.05", "--kappa", "0", "0.1", "--cv", "2"]
    argv += ["--n-samples", "300", "--quiet"]
    results = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        assert main([*argv, "--threads", threads, "--out", str(out)]) == 0
        with open(out / "cv_results.csv") as f:
            results.append(list(csv.DictReader(f)))
    for key in ("mean_test_clean_accuracy", "mean_test_neg_asr", "split0_test_neg_asr"):
        assert_allclose(
            [float(r[key]) for r in results[0]], [float(r[key]) for r in results[1]], atol=1e-12
        )


def test_select_kappa_prints_readably_and_keeps_attribute_access():
    from sklpoison.model_selection import KappaSelection

    res = _cv_results(ROWS)
    worst = select_kappa(res, min_clean_accuracy=0.9)
    assert isinstance(worst, KappaSelection)
    assert worst.kappa == worst["kappa"] == 1.0 and worst.poison_rate is None
    assert worst.poison_rates == [0.05, 0.1] and worst.min_clean_accuracy == 0.9
    assert repr(worst) == (
        "KappaSelection(kappa=1, asr=0.5, clean_accuracy=0.91, poison_rate=worst case)"
    )
    text = str(worst).splitlines()
    assert text[0] == "κ = 1: attack success 0.500, clean accuracy 0.910"
    assert "worst case over θ ∈ {0.05, 0.1}" in text[1] and "≥ 0.9" in text[1]
    assert text[2].split() == ["kappa", "attack", "success", "clean", "accuracy", "feasible"]
    assert text[4].split() == ["1", "0.500", "0.910", "yes", "<-", "chosen"]
    assert text[5].split() == ["10", "0.100", "0.550", "no"]
    at5 = select_kappa(res, min_clean_accuracy=0.9, poison_rate=0.05)
    assert repr(at5).endswith("poison_rate=0.05)") and "at θ = 0.05" in str(at5)
    assert "None" not in str(worst) + repr(worst)


# ---------------------------------------------------------------- augmentation
# the CNN main job trains with random crops by default
@pytest.mark.parametrize(
    "model, choice, expected",
    [
        ("cnn", None, "crop"),  # the paper's augmentation without the flips (digits)
        ("mlp", None, False),
        ("krr", None, False),
        ("cnn", "none", False),
        ("cnn", "both", True),
        ("cnn", "flip", "flip"),
        ("mlp", "crop", "crop"),
    ],
)
def test_resolve_augment(model, choice, expected):
    assert _sweep.resolve_augment(model, choice) == expected


def test_cnn_model_gets_the_default_augmentation():
    pytest.importorskip("skorch")
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    parser = _sweep.add_parser(sub)
    args = parser.parse_args(["--model", "cnn"])
    assert args.augment is None
    model = _sweep.make_model("cnn", augment=_sweep.resolve_augment("cnn", args.augment))
    assert model.augment == "crop"
    args = parser.parse_args(["--model", "cnn", "--augment", "none"])
    assert (
        _sweep.make_model("cnn", augment=_sweep.resolve_augment("cnn", args.augment)).augment
        is False
    )
    # the default sweep (kernel ridge) is unchanged
    assert type(_sweep.make_model("krr")).__name__ == "GradRegKRRClassifier"
