"""Common-check instances for sklpoison/certification/ (IntervalCertifier, its regressor)."""


def _interval_certifier():
    from sklpoison import IntervalCertifier

    # enough full-batch steps for the checks' accuracy / R^2 thresholds on
    # their small standardised data sets, with a live threat model so that the
    # bound propagation runs inside every check
    return [
        IntervalCertifier(
            "logistic",
            n_label_flips=1,
            n_poison=1,
            epsilon=0.01,
            lr=0.5,
            n_epochs=60,
            random_state=0,
        ),
        IntervalCertifier(
            "mlp",
            hidden_layer_sizes=(8,),
            n_label_flips=1,
            lr=0.5,
            n_epochs=60,
            batch_size=32,
            random_state=0,
        ),
    ]


def _interval_certifier_regressor():
    from sklpoison import IntervalCertifierRegressor

    return [
        IntervalCertifierRegressor(
            "linear", n_poison=1, epsilon=0.01, lr=0.05, n_epochs=60, random_state=0
        )
    ]


INSTANCES = {
    "IntervalCertifier": _interval_certifier,
    "IntervalCertifierRegressor": _interval_certifier_regressor,
}
EXPECTED_FAILED_CHECKS = {}
