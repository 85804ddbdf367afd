"""Common-check instances for sklpoison/defences/ (_floral.py, _lnsvc.py, _knn.py)."""


def _floral_svc():
    from sklpoison import FloralSVC

    # the paper's defaults (lr=1e-4, 500 rounds) and a converging step size
    return [
        FloralSVC(random_state=0),
        FloralSVC(lr="auto", n_rounds=100, poison_rate=0.05, random_state=0),
        FloralSVC(lr=1e-3, average=True, random_state=0),
    ]


def _lnsvc():
    from sklpoison import LNSVC

    return [LNSVC(), LNSVC(mu=0.1, kernel="linear")]


def _sanitizer():
    from sklpoison import KNNLabelSanitizer

    return [KNNLabelSanitizer(n_neighbors=5, threshold=0.6)]


INSTANCES = {"FloralSVC": _floral_svc, "LNSVC": _lnsvc, "KNNLabelSanitizer": _sanitizer}
EXPECTED_FAILED_CHECKS = {}
