"""A detector around a model fitted on a named DataFrame queries that model with the
same column names: no "X does not have valid feature names" from its own calls."""

import warnings

import pandas as pd
from sklearn.datasets import load_digits

from sklpoison.defences import GradRegKRRClassifier
from sklpoison.detection import HessianSpectrumDetector


def test_fit_and_score_on_a_named_dataframe_do_not_warn_about_feature_names():
    X, y = load_digits(return_X_y=True)
    X = pd.DataFrame(X[:150] / 16, columns=[f"px{i}" for i in range(64)])
    y = y[:150]
    model = GradRegKRRClassifier(alpha=0.1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        det = HessianSpectrumDetector(model).fit(X, y)
        for name in ("score_samples", "predict", "decision_function"):
            if hasattr(det, name):
                getattr(det, name)(X)
