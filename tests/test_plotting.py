"""Tests of the foundation's plotting helper (TriggerDisplay)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklpoison import PoisonTransformer  # noqa: E402
from sklpoison.datasets import load_digits_images  # noqa: E402
from sklpoison.plotting import TriggerDisplay  # noqa: E402


def test_trigger_display_shows_trigger_and_examples():
    X, y = load_digits_images(return_X_y=True)
    p = PoisonTransformer(theta=0.1, target_class=0).fit(X, y)
    disp = TriggerDisplay.from_poisoner(p, X[:2])
    assert disp.ax_.shape == (2, 3)
    shown = disp.ax_[1, 1].images[0].get_array()
    np.testing.assert_array_equal(shown, p.apply_trigger(X[:1])[0, 0])
    np.testing.assert_array_equal(disp.ax_[1, 0].images[0].get_array(), p.trigger_mask_[0])
    assert disp.figure_ is disp.ax_[0, 0].figure


def test_trigger_display_needs_images():
    p = PoisonTransformer(trigger_size=1).fit(np.zeros((4, 3)), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="images"):
        TriggerDisplay.from_poisoner(p)
