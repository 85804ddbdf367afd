"""Long fits report progress on stderr at verbose=1, and nothing at verbose=0."""

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklpoison import (
    ALFALabelFlipper,
    FloralLabelFlipper,
    FloralSVC,
    GradientCanceling,
    GradPC,
    LFALabelFlipper,
)
from sklpoison.utils._progress import progress, stage


@pytest.fixture(scope="module")
def data():
    return make_classification(40, 4, random_state=0)


LONG_FITS = [
    (LFALabelFlipper(poison_rate=0.1, n_candidates=3, random_state=0), "LFA flips"),
    (ALFALabelFlipper(poison_rate=0.1, max_iter=2), "ALFA alternations"),
    (FloralLabelFlipper(poison_rate=0.1, random_state=0), "[FLORAL flips] fitting"),
    (FloralSVC(n_rounds=5, random_state=0), "[FloralSVC] kernel matrix of n=40 rows"),
    (FloralSVC(n_rounds=5, random_state=0), "FLORAL rounds"),
    (GradientCanceling(poison_rate=0.1, max_iter=2, random_state=0), "GradientCanceling"),
    (GradPC(max_iter=2), "GradPC"),
]


@pytest.mark.parametrize(
    "est, expected", LONG_FITS, ids=lambda p: type(p).__name__ if hasattr(p, "fit") else ""
)
def test_long_fits_show_progress_at_verbose_1_only(est, expected, data, capsys):
    X, y = data
    fit = est.fit_resample if hasattr(est, "fit_resample") else est.fit
    fit(X, y)
    assert capsys.readouterr().err == ""
    fit = getattr(est.set_params(verbose=1), "fit_resample", est.fit)
    fit(X, y)
    captured = capsys.readouterr()
    assert expected in captured.err
    assert captured.out == ""  # stdout stays the program's output


def test_progress_and_stage_helpers(capsys):
    steps = range(3)
    assert progress(steps, 0, desc="x") is steps
    assert list(progress(steps, 1, desc="things", unit="thing")) == [0, 1, 2]
    assert "things" in capsys.readouterr().err
    start = stage(0, "M", "quiet")
    assert capsys.readouterr().err == ""
    stage(True, "M", "fitting (n=3)", start=start)
    line = capsys.readouterr().err
    assert line.startswith("[M] fitting (n=3) (") and line.endswith(" s)\n")
    assert isinstance(start, float) and np.isfinite(start)
