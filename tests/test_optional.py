"""The core install works without torch, skorch and cvxpy; their features say what to install.

Each test runs Python in a subprocess where the optional modules cannot be imported (a finder
first on ``sys.meta_path`` raises ``ModuleNotFoundError`` for them, as for a module that is not
installed; ``sys.modules[name] = None`` would not do: scipy then trips over the ``None``).
"""

import os
import subprocess
import sys
import textwrap

import pytest

from sklpoison.utils._optional import import_optional

BLOCK = ("torch", "skorch", "cvxpy", "dask", "distributed")


def _run(code, *argv):
    prelude = textwrap.dedent(
        f"""
        import sys

        class _NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCK!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, _NotInstalled())
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_import_optional_message():
    assert import_optional("math", extra="torch", feature="x").sqrt(4.0) == 2.0
    with pytest.raises(
        ImportError, match=r'^thing needs PyTorch and skorch: pip install "sklpoison\[torch\]"$'
    ):
        import_optional("no_such_module_xyz", extra="torch", feature="thing")


def test_core_works_without_torch_and_cvxpy():
    res = _run(
        """
        import numpy as np
        from imblearn.pipeline import make_pipeline
        from sklearn.model_selection import GridSearchCV
        import sklpoison
        from sklpoison import (
            FloralSVC, GradRegKRRClassifier, IntervalCertifier, PoisonTransformer,
            RandomLabelFlipper,
        )
        from sklpoison.datasets import load_digits_images, make_or
        from sklpoison.metrics import neg_asr_scorer
        from sklpoison.model_selection import select_kappa

        X, y = load_digits_images(return_X_y=True, flat=True)
        X, y = X[:300], y[:300]
        search = GridSearchCV(
            make_pipeline(
                PoisonTransformer(target_class=0, image_shape=(8, 8), random_state=0),
                GradRegKRRClassifier(alpha=0.01, gamma=0.02),
            ),
            {"poisontransformer__poison_rate": [0.05], "gradregkrrclassifier__kappa": [0.0, 1.0]},
            scoring={"clean_accuracy": "accuracy", "neg_asr": neg_asr_scorer},
            refit=False,
            cv=2,
        ).fit(X, y)
        assert -search.cv_results_["mean_test_neg_asr"][0] > 0.5
        print(select_kappa(search.cv_results_, min_clean_accuracy=0.5).kappa)

        Xb, yb = X[y < 2], y[y < 2]
        RandomLabelFlipper(poison_rate=0.1, random_state=0).fit_resample(Xb, yb)
        FloralSVC(n_rounds=3, random_state=0).fit(Xb, yb)  # the default (fixed-point) path
        Xo, yo = make_or(50, random_state=0)
        cert = IntervalCertifier(n_poison=2, n_epochs=5, random_state=0).fit(Xo, yo)
        print(cert.certified_accuracy(Xo, yo))
        from sklpoison import GradientCanceling, HessianSpectrumDetector

        krr = GradRegKRRClassifier(alpha=0.01, gamma=0.02).fit(X[:100], y[:100])
        HessianSpectrumDetector(krr, n_components=2, random_state=0).fit(X[:20])
        GradientCanceling(poison_rate=0.05, max_iter=5, random_state=0).fit_resample(Xb, yb)
        assert not [m for m in ("torch", "skorch", "cvxpy") if sys.modules.get(m)]
        print("CORE OK")
        """
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "CORE OK" in res.stdout


@pytest.mark.parametrize(
    "code, message",
    [
        (
            "import sklpoison.nn",
            "sklpoison.nn (GradRegNetClassifier) needs PyTorch and skorch: "
            'pip install "sklpoison[torch]"',
        ),
        (
            "from sklpoison import FloralSVC; import numpy as np\n"
            "X = np.random.RandomState(0).randn(40, 2); y = (X[:, 0] > 0).astype(int)\n"
            "FloralSVC(projection='exact', n_rounds=2).fit(X, y)",
            "FloralSVC(projection='exact') needs cvxpy: pip install \"sklpoison[convex]\"",
        ),
        (
            "from sklpoison import IntervalCertifier\n"
            "from sklpoison.datasets import make_or\n"
            "X, y = make_or(20, random_state=0)\n"
            "IntervalCertifier(n_poison=1, n_epochs=2, bound='lp').fit(X, y)",
            "IntervalCertifier(bound='lp') needs cvxpy: pip install \"sklpoison[convex]\"",
        ),
    ],
)
def test_optional_features_say_what_to_install(code, message):
    res = _run(code)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last == f"ImportError: {message}"


def test_cli_cnn_without_torch_is_an_argument_error(tmp_path):
    res = _run(
        "from sklpoison.__main__ import main; sys.exit(main(sys.argv[1:]))",
        "sweep",
        "--model",
        "cnn",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "sklpoison sweep: error: --model cnn needs PyTorch and skorch: "
        'pip install "sklpoison[torch]"'
    )


def test_cli_default_sweep_does_not_import_torch(tmp_path):
    res = _run(
        "from sklpoison.__main__ import main; code = main(sys.argv[1:])\n"
        "assert not [m for m in ('torch', 'skorch', 'cvxpy') if sys.modules.get(m)]\n"
        "sys.exit(code)",
        "sweep",
        "--poison-rate",
        "0.05",
        "--kappa",
        "0",
        "--cv",
        "2",
        "--n-samples",
        "200",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "safety_efficacy.png").exists()


def test_highs_solves_print_nothing():
    # HiGHS prints a copyright banner from C++ when its first highspy.Highs is created, before
    # any option can be set (HiGHS 1.16; cvxpy's solver options come too late). The LP of
    # ALFA goes through scipy.optimize.linprog(method="highs"), which prints nothing, and
    # FloralSVC's exact projection through Clarabel with cvxpy's verbose=False: the caller's
    # output stays clean without touching the process's file descriptors
    pytest.importorskip("cvxpy")
    code = (
        "import numpy as np\n"
        "from sklpoison import ALFALabelFlipper, FloralSVC\n"
        "X = np.random.RandomState(0).randn(40, 2); y = (X[:, 0] > 0).astype(int)\n"
        "ALFALabelFlipper(poison_rate=0.1).fit_resample(X, y)\n"
        "FloralSVC(projection='exact', n_rounds=2).fit(X, y)\n"
        "print('done')\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == "done\n"
    assert "HiGHS" not in res.stderr
