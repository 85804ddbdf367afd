"""Tests of sklpoison.metrics (attack success rate and its scorer)."""

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from sklpoison import PoisonTransformer
from sklpoison.datasets import load_digits_images
from sklpoison.metrics import attack_success_rate, find_poisoner, make_asr_scorer, neg_asr_scorer


class _FirstFeatureClassifier(ClassifierMixin, BaseEstimator):
    """Predicts class 1 when feature 0 exceeds 0.5: a model whose ASR we can count by hand."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0.5).astype(int)


def test_asr_counts_by_hand():
    X = np.zeros((10, 3))
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    # trigger writes 1.0 on feature 0 for 'top-left'
    poisoner = PoisonTransformer(
        poison_rate=0.0, trigger_size=1, position="top-left", target_class=1, trigger_value=1.0
    ).fit(X, y)
    model = _FirstFeatureClassifier().fit(X, y)
    assert attack_success_rate(model, X, y, poisoner=poisoner) == 1.0
    poisoner0 = PoisonTransformer(
        poison_rate=0.0, trigger_size=1, position="top-left", target_class=1, trigger_value=0.0
    ).fit(X, y)
    assert attack_success_rate(model, X, y, poisoner=poisoner0) == 0.0
    # only non-target rows count: target 0 rows are excluded, predictions of 1 count as failures
    assert attack_success_rate(model, X, y, poisoner=poisoner, target_class=0) == 0.0


def test_find_poisoner_and_errors():
    X = np.zeros((4, 2))
    y = np.array([0, 1, 0, 1])
    pipe = make_pipeline(PoisonTransformer(trigger_size=1), _FirstFeatureClassifier()).fit(X, y)
    index, found = find_poisoner(pipe)
    assert index == 0 and found is pipe.steps[0][1]
    with pytest.raises(ValueError, match="not a Pipeline"):
        attack_success_rate(_FirstFeatureClassifier().fit(X, y), X, y)
    plain = make_pipeline(_FirstFeatureClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="no poisoning step"):
        attack_success_rate(plain, X, y)
    with pytest.raises(ValueError, match="Every row of y has the target class"):
        attack_success_rate(pipe, X[:1], y[:1], target_class=0)


def test_gridsearch_over_theta_with_both_scorers():
    X, y = load_digits_images(return_X_y=True, flat=True)
    pipe = make_pipeline(
        PoisonTransformer(target_class=0, image_shape=(8, 8), random_state=0), SVC()
    )
    search = GridSearchCV(
        pipe,
        {"poisontransformer__poison_rate": [0.0, 0.1]},
        scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
        refit="clean_accuracy",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    res = search.cv_results_
    asr = -res["mean_test_neg_asr"]
    acc = res["mean_test_clean_accuracy"]
    assert asr[0] < 0.1 < 0.9 < asr[1]
    assert np.all(acc > 0.9)
    assert repr(make_asr_scorer()) == "make_asr_scorer()"
