"""Common-check instances for sklpoison/defences/_krr.py."""


def _regressors():
    from sklpoison import GradRegKRR

    return [
        GradRegKRR(),
        GradRegKRR(alpha=0.5, kappa=0.1),
        GradRegKRR(alpha=0.5, kappa=0.1, kernel="linear"),
    ]


def _classifiers():
    from sklpoison import GradRegKRRClassifier

    return [
        GradRegKRRClassifier(),
        GradRegKRRClassifier(alpha=0.5, kappa=0.01),
        GradRegKRRClassifier(alpha=0.5, kappa=0.01, kernel="linear"),
    ]


INSTANCES = {"GradRegKRR": _regressors, "GradRegKRRClassifier": _classifiers}
EXPECTED_FAILED_CHECKS = {}
