"""A κ×θ sweep on a local Dask cluster gives the same results as n_jobs=1."""

import csv

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

distributed = pytest.importorskip("distributed")

from imblearn.pipeline import make_pipeline  # noqa: E402
from joblib import parallel_config  # noqa: E402
from sklearn.metrics import make_scorer  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from sklpoison import GradRegKRRClassifier, PoisonTransformer  # noqa: E402
from sklpoison.__main__ import main  # noqa: E402
from sklpoison.datasets import load_digits_images  # noqa: E402
from sklpoison.metrics import neg_asr_scorer  # noqa: E402
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
        {"poisontransformer__poison_rate": [0.05, 0.1], f"{step}__kappa": kappas},
        scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer, "response": _RESPONSE},
        refit=False,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )


def _sum_of_squares(y_true, response):
    return float(np.sum(np.square(response, dtype=np.float64)))


# a continuous score of the raw outputs: it tells apart any two differently
# trained models, also those whose accuracies coincide
_RESPONSE = make_scorer(_sum_of_squares, response_method=("decision_function", "predict_proba"))


def _scores(search):
    keys = [k for k in search.cv_results_ if k.startswith("split") and "_test_" in k]
    return {k: np.asarray(search.cv_results_[k]) for k in sorted(keys)}


@pytest.mark.parametrize(
    "make_model, kappas",
    [
        (lambda: GradRegKRRClassifier(alpha=1e-2), [0.0, 1.0]),
        (
            # a small CNN, two epochs: what matters is that seeded weights,
            # shuffling and augmentation are reproduced exactly in threads
            lambda: GradRegNetClassifier(
                SmallCNN,
                image_shape=(8, 8),
                augment=True,
                module__channels=(4, 8),
                module__hidden=16,
                max_epochs=2,
                batch_size=32,
                random_state=0,
            ),
            [0.0, 1.0],
        ),
    ],
    ids=["krr", "cnn"],
)
def test_dask_backend_matches_sequential(cluster, digits, make_model, kappas):
    X, y = digits
    _, client = cluster
    sequential = _search(make_model(), kappas, n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as tasks, parallel_config(backend="dask"):
        on_dask = _search(make_model(), kappas, n_jobs=-1).fit(X, y)
    # the fits really ran on the cluster (joblib sends them in batches)
    assert any("fit_and_score" in t["key"] for t in tasks.data)
    seq, par = _scores(sequential), _scores(on_dask)
    assert seq.keys() == par.keys() and len(seq) == 6  # 2 folds x 3 scores
    for key in seq:
        if "response" in key:
            assert_allclose(par[key], seq[key], rtol=1e-5, err_msg=key)
        else:
            assert_array_equal(par[key], seq[key], err_msg=key)
    # every (poison_rate, kappa, fold) trained a different model: equality is informative
    resp = np.concatenate([seq["split0_test_response"], seq["split1_test_response"]])
    assert np.unique(resp.round(4)).size == resp.size


def test_cli_sweep_on_a_dask_scheduler(cluster, tmp_path, capsys):
    local, _ = cluster
    out = tmp_path / "dask-report"
    argv = ["sweep", "--poison-rate", "0.05", "--kappa", "0", "0.1", "--cv", "2", "--n-samples"]
    argv += ["300", "--dask-scheduler", local.scheduler_address, "--out", str(out)]
    assert main(argv) == 0
    header = capsys.readouterr().out.splitlines()[0]
    # the workers limit their BLAS/torch threads to their share (one per task thread)
    assert "dask scheduler" in header and "1 thread(s) per fit" in header
    with open(out / "cv_results.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


@pytest.mark.parametrize(
    "address, reason",
    [("tcp://127.0.0.1:1", "Timed out trying to connect"), ("nohost", "missing port number")],
)
def test_cli_sweep_without_its_dask_scheduler_is_one_line(address, reason, tmp_path, capsys):
    # an unreachable or malformed address: one error line and exit 2, no traceback, no fit
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["sweep", "--dask-scheduler", address, "--out", str(tmp_path)])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"sklpoison sweep: error: --dask-scheduler {address}: cannot connect ({reason}"
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_sweep_on_dask_leaves_the_gpu_check_to_the_workers(tmp_path, capsys):
    # the documented `--dask-scheduler ... --model cnn --device cuda` from a client without a
    # GPU: the GPUs are the workers' (no 'no CUDA GPU is visible' error on the client); the
    # run gets as far as connecting
    dask = pytest.importorskip("dask")
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        pytest.skip("a GPU is present")
    argv = ["sweep", "--model", "cnn", "--device", "cuda", "--out", str(tmp_path)]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*argv, "--dask-scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot connect" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # without a cluster the check stays
        main(argv)
    assert "no CUDA GPU is visible to PyTorch" in capsys.readouterr().err
