"""Fast instances and genuinely inapplicable checks for the common test suite.

``tests/test_common.py`` discovers every public estimator. Estimators whose
constructor needs arguments, or whose defaults are too slow (or do not fit the
tiny data of scikit-learn's checks), register a factory here returning a list of
small instances. Checks that cannot apply to an estimator are listed with the
reason; never list a check to hide a bug.
"""


def _poison_transformer():
    from sklpoison import PoisonTransformer

    # scikit-learn's checks fit on data with a single feature; the default
    # 3-feature tabular trigger (rightly) refuses to fit there.
    return [
        PoisonTransformer(trigger_size=1, random_state=0),
        PoisonTransformer(trigger_size=1, mode="add", theta=0.3, random_state=0),
    ]


INSTANCES = {
    "PoisonTransformer": _poison_transformer,
}

EXPECTED_FAILED_CHECKS = {}
