"""A κ×θ sweep on a local Dask cluster gives the same results as n_jobs=1."""

import csv

import numpy as np
import pytest
from numpy.testing import assert_array_equal

distributed = pytest.importorskip("distributed")

from imblearn.pipeline import make_pipeline  # noqa: E402
from joblib import parallel_config  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from sklpoison import GradRegKRRClassifier, PoisonTransformer  # noqa: E402
from sklpoison.__main__ import main  # noqa: E402
from sklpoison.datasets import load_digits_images  # noqa: E402
from sklpoison.metrics import asr_scorer  # noqa: E402
from sklpoison.nn import GradRegNetClassifier  # noqa: E402
from sklpoison.nn.models import SmallCNN  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield cluster, client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images(return_X_y=True, flat=True)
    return X[:360], y[:360]


def _search(model, kappas, n_jobs):
    pipe = make_pipeline(
        PoisonTransformer(target_class=0, image_shape=(8, 8), random_state=0), model
    )
    step = pipe.steps[-1][0]
    return GridSearchCV(
        pipe,
        {"poisontransformer__theta": [0.05, 0.1], f"{step}__kappa": kappas},
        scoring={"clean_accuracy": "accuracy", "asr": asr_scorer},
        refit=False,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )


def _scores(search):
    keys = [k for k in search.cv_results_ if k.startswith("split") and "_test_" in k]
    return {k: np.asarray(search.cv_results_[k]) for k in sorted(keys)}


@pytest.mark.parametrize(
    "make_model, kappas",
    [
        (lambda: GradRegKRRClassifier(alpha=1e-2), [0.0, 1.0]),
        (
            lambda: GradRegNetClassifier(
                SmallCNN, image_shape=(8, 8), augment=True, max_epochs=2, random_state=0
            ),
            [0.0, 1.0],
        ),
    ],
    ids=["krr", "cnn"],
)
def test_dask_backend_matches_sequential(cluster, digits, make_model, kappas):
    X, y = digits
    sequential = _search(make_model(), kappas, n_jobs=1).fit(X, y)
    with parallel_config(backend="dask"):
        on_dask = _search(make_model(), kappas, n_jobs=-1).fit(X, y)
    seq, par = _scores(sequential), _scores(on_dask)
    assert seq.keys() == par.keys() and len(seq) == 4  # 2 folds x 2 scores
    for key in seq:
        assert_array_equal(par[key], seq[key], err_msg=key)
    # the sweep measured something: poisoning worked at kappa=0
    assert max(sequential.cv_results_["mean_test_asr"]) > 0.5


def test_cli_sweep_on_a_dask_scheduler(cluster, tmp_path, capsys):
    local, _ = cluster
    out = tmp_path / "dask-report"
    argv = ["sweep", "--theta", "0.05", "--kappa", "0", "0.1", "--cv", "2", "--n-samples"]
    argv += ["300", "--quiet", "--dask-scheduler", local.scheduler_address, "--out", str(out)]
    assert main(argv) == 0
    assert "dask scheduler" in capsys.readouterr().out
    with open(out / "cv_results.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
