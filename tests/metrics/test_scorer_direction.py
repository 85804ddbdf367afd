"""Every exported scorer is greater-is-better, and the trade-off helpers follow.

scikit-learn ranks a search by "greater is better" (``rank_test_<score> == 1`` is
the largest mean). A scorer returning the attack success rate made the *most*
attacked setting rank first; ``neg_asr_scorer`` negates it, as
``neg_mean_squared_error`` negates an error, and ``select_kappa``,
``tradeoff_table`` and ``SafetyEfficacyDisplay`` negate its column back, so that
their tables and plots keep the attack success rate in [0, 1].
"""

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

import sklpoison.metrics
from sklpoison import PoisonTransformer
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import attack_success_rate, make_asr_scorer, neg_asr_scorer
from sklpoison.model_selection import select_kappa, tradeoff_table
from sklpoison.plotting import SafetyEfficacyDisplay

EXPORTED_SCORERS = [
    getattr(sklpoison.metrics, name)
    for name in sklpoison.metrics.__all__
    if name.endswith("_scorer") and not name.startswith("make_")
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images(return_X_y=True, flat=True)
    return X[:900], y[:900]


@pytest.fixture(scope="module")
def search(digits):
    X, y = digits
    pipe = make_pipeline(
        PoisonTransformer(target_class=0, image_shape=(8, 8), random_state=0), SVC()
    )
    return GridSearchCV(
        pipe,
        {"poisontransformer__poison_rate": [0.1, 0.0]},  # the attacked setting first
        scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
        refit=False,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(X, y)


def test_the_least_attacked_setting_ranks_first(search):
    res = search.cv_results_
    thetas = [p["poisontransformer__poison_rate"] for p in res["params"]]
    best = thetas[int(np.argmin(res["rank_test_neg_asr"]))]
    assert best == 0.0
    assert np.all(res["mean_test_neg_asr"] <= 0)
    # the helpers report the attack success rate itself
    table = tradeoff_table(
        {**res, "param_m__kappa": np.zeros(2)}, poison_rate_param="poisontransformer__poison_rate"
    )
    assert table.asr_key == "neg_asr"
    np.testing.assert_allclose(table.asr[::-1], -res["mean_test_neg_asr"])
    assert (
        table.asr[table.poison_rate == 0.1][0] > 0.9 > 0.1 > table.asr[table.poison_rate == 0.0][0]
    )


@pytest.mark.parametrize("scorer", EXPORTED_SCORERS, ids=repr)
def test_every_exported_scorer_is_greater_is_better(scorer, digits):
    X, y = digits
    fits = {}
    for theta in (0.0, 0.1):
        pipe = make_pipeline(
            PoisonTransformer(
                poison_rate=theta, target_class=0, image_shape=(8, 8), random_state=0
            ),
            SVC(),
        )
        fits[theta] = pipe.fit(X[:600], y[:600])
    # for the defender the clean model is better: it must score higher
    assert scorer(fits[0.0], X[600:], y[600:]) > scorer(fits[0.1], X[600:], y[600:])


def test_make_asr_scorer_signs(digits):
    X, y = digits
    pipe = make_pipeline(
        PoisonTransformer(poison_rate=0.1, image_shape=(8, 8), random_state=0), SVC()
    ).fit(X[:600], y[:600])
    rate = attack_success_rate(pipe, X[600:], y[600:])
    assert rate > 0.5
    assert make_asr_scorer()(pipe, X[600:], y[600:]) == -rate
    assert make_asr_scorer(greater_is_better=True)(pipe, X[600:], y[600:]) == rate
    assert repr(make_asr_scorer(greater_is_better=True)) == (
        "make_asr_scorer(greater_is_better=True)"
    )


def test_only_greater_is_better_scorers_are_exported():
    assert "asr_scorer" not in sklpoison.metrics.__all__
    with pytest.raises(ImportError):
        from sklpoison.metrics import asr_scorer  # noqa: F401


def _results(asr, key="neg_asr", sign=-1):
    return {
        "param_p__poison_rate": np.array([0.1, 0.1, 0.1]),
        "param_m__kappa": np.array([0.0, 1.0, 10.0]),
        "mean_test_clean_accuracy": np.array([0.97, 0.93, 0.60]),
        f"mean_test_{key}": sign * np.asarray(asr, dtype=float),
    }


def test_select_kappa_and_the_plot_read_either_column():
    asr = [0.95, 0.30, 0.05]
    for res, key in ((_results(asr), "neg_asr"), (_results(asr, key="asr", sign=1), "asr")):
        choice = select_kappa(res, min_clean_accuracy=0.9, asr_key=key)
        assert (choice.kappa, choice.asr) == (1.0, 0.30)
        disp = SafetyEfficacyDisplay.from_cv_results(res, asr_key=key)
        np.testing.assert_allclose(disp.asr, asr)  # the axis stays attack success
        assert disp.ax_.get_ylabel().lower().startswith("attack success")
        assert min(disp.ax_.get_ylim()) >= -0.1


def test_a_user_asr_column_is_read_only_when_named():
    res = _results([0.95, 0.30, 0.05], key="asr", sign=1)
    with pytest.raises(ValueError, match="'mean_test_neg_asr' is not a column.*asr_key="):
        select_kappa(res, min_clean_accuracy=0.9)


def test_a_column_of_the_wrong_sign_is_refused():
    with pytest.raises(ValueError, match="looks negated .* name that scorer 'neg_asr'"):
        tradeoff_table(_results([0.9, 0.3, 0.1], key="robust"), asr_key="robust")
    with pytest.raises(ValueError, match="negated, range"):
        tradeoff_table(_results([0.9, 0.3, 0.1], sign=1))
