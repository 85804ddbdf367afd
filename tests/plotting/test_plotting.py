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
    p = PoisonTransformer(poison_rate=0.1, target_class=0).fit(X, y)
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


# ------------------------------------------------ safety-efficacy labels and error bars

# the default kernel-ridge sweep (poison_rate, kappa, clean accuracy, its std, asr, its std),
# measured:
# kappa = 0 and 0.01 of all three poison_rate crowd the top right corner
SWEEP = [
    (0.005, 0.0, 0.988, 0.001, 0.803, 0.072),
    (0.005, 0.01, 0.987, 0.001, 0.434, 0.043),
    (0.005, 0.1, 0.982, 0.004, 0.269, 0.018),
    (0.005, 1.0, 0.968, 0.004, 0.149, 0.055),
    (0.005, 10.0, 0.945, 0.006, 0.157, 0.059),
    (0.01, 0.0, 0.988, 0.001, 0.956, 0.022),
    (0.01, 0.01, 0.987, 0.001, 0.760, 0.049),
    (0.01, 0.1, 0.982, 0.004, 0.631, 0.010),
    (0.01, 1.0, 0.967, 0.005, 0.502, 0.013),
    (0.01, 10.0, 0.938, 0.005, 0.531, 0.020),
    (0.02, 0.0, 0.988, 0.001, 0.995, 0.002),
    (0.02, 0.01, 0.987, 0.001, 0.951, 0.023),
    (0.02, 0.1, 0.982, 0.004, 0.855, 0.009),
    (0.02, 1.0, 0.967, 0.004, 0.824, 0.017),
    (0.02, 10.0, 0.914, 0.002, 0.900, 0.017),
]


def _sweep_results(rows=SWEEP):
    col = lambda j: np.array([r[j] for r in rows])  # noqa: E731
    return {
        "param_poisontransformer__poison_rate": col(0),
        "param_gradregkrrclassifier__kappa": col(1),
        "mean_test_clean_accuracy": col(2),
        "std_test_clean_accuracy": col(3),
        "mean_test_neg_asr": -col(4),  # neg_asr_scorer: minus the attack success rate
        "std_test_neg_asr": col(5),
    }


def _boxes(texts, renderer):
    """The extents of the label texts (an Annotation's own extent includes its leader line)."""
    from matplotlib.text import Text

    return [Text.get_window_extent(t, renderer) for t in texts]


def test_safety_efficacy_labels_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sklpoison.plotting import SafetyEfficacyDisplay

    # as the CLI draws it: a bare Figure, constrained layout
    fig = Figure(figsize=(6.5, 4.8), layout="constrained")
    disp = SafetyEfficacyDisplay.from_cv_results(_sweep_results(), ax=fig.subplots())
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # final layout, then measure what was drawn
    renderer = canvas.get_renderer()
    boxes = _boxes(disp.annotations_, renderer)
    assert len(boxes) == len(SWEEP)
    assert sorted(t.get_text() for t in disp.annotations_) == sorted(f"κ={r[1]:g}" for r in SWEEP)
    for i in range(len(boxes)):
        for j in range(i):
            assert not boxes[i].overlaps(boxes[j]), (
                disp.annotations_[i].get_text(),
                disp.annotations_[j].get_text(),
            )
    # and every label lies inside the figure
    frame = fig.bbox
    for b in boxes:
        assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1


def test_safety_efficacy_error_bars_are_the_fold_stds():
    import matplotlib.pyplot as plt

    from sklpoison.plotting import SafetyEfficacyDisplay

    disp = SafetyEfficacyDisplay.from_cv_results(_sweep_results())
    assert set(disp.errorbars_) == {0.005, 0.01, 0.02}
    _, caps, (xbars, ybars) = disp.errorbars_[0.005]
    segments = np.array(ybars.get_segments())  # one vertical segment per point, +- std
    half = (segments[:, 1, 1] - segments[:, 0, 1]) / 2
    np.testing.assert_allclose(sorted(half), sorted(r[5] for r in SWEEP if r[0] == 0.005))
    xsegments = np.array(xbars.get_segments())
    np.testing.assert_allclose(
        sorted((xsegments[:, 1, 0] - xsegments[:, 0, 0]) / 2),
        sorted(r[3] for r in SWEEP if r[0] == 0.005),
    )
    assert "± 1 std over CV folds" in [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    # both axes are rates: a bar never reaches past 0 or 1 (+- std cut there, not shifted)
    edge = SafetyEfficacyDisplay(
        [0.99, 0.5],
        [0.01, 0.995],
        [0.1, 0.1],
        [0.0, 1.0],
        clean_accuracy_std=[0.05, 0.1],
        asr_std=[0.05, 0.02],
    ).plot()
    _, _, (xbars, ybars) = edge.errorbars_[0.1]
    np.testing.assert_allclose(np.array(xbars.get_segments())[:, :, 0], [[0.94, 1.0], [0.4, 0.6]])
    np.testing.assert_allclose(np.array(ybars.get_segments())[:, :, 1], [[0.0, 0.06], [0.975, 1.0]])
    off = SafetyEfficacyDisplay.from_cv_results(_sweep_results(), errorbars=False)
    assert off.errorbars_ == {}
    assert "± 1 std over CV folds" not in [t.get_text() for t in off.ax_.get_legend().get_texts()]
    plt.close("all")


# ------------------------------------------------ certification display


def test_certification_display_keeps_labels_inside_and_keys_the_dotted_line(tmp_path):
    import matplotlib.pyplot as plt

    from sklpoison.plotting import CertificationDisplay

    disp = CertificationDisplay.from_results(
        [0, 1, 2, 5, 10, 20, 50],
        [0.915, 0.9, 0.9, 0.87, 0.79, 0.61, 0.0],
        nominal=0.915,
        best=[0.915, 0.92, 0.92, 0.93, 0.96, 0.99, 1.0],
        budget_name="n_label_flips",
    )
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend == ["certified (lower bound)", "best case (upper bound)", "nominal"]
    assert disp.best_lines_[0].get_linestyle() == ":"
    # saved without bbox_inches="tight": the x label is inside the figure
    disp.figure_.savefig(tmp_path / "cert.png")
    renderer = disp.figure_.canvas.get_renderer()
    label = disp.ax_.xaxis.label.get_window_extent(renderer)
    assert label.y0 >= 0 and label.x0 >= 0 and label.x1 <= disp.figure_.bbox.x1

    # several epsilons: one entry per curve and one gray key per line style
    many = CertificationDisplay.from_results(
        [0, 1], [[0.9, 0.8], [0.9, 0.7]], nominal=0.9, best=[[0.9, 0.95]] * 2, epsilons=[0.0, 0.1]
    )
    legend = [t.get_text() for t in many.ax_.get_legend().get_texts()]
    assert legend == [
        "$\\epsilon$=0",
        "$\\epsilon$=0.1",
        "certified (lower bound)",
        "best case (upper bound)",
        "nominal",
    ]
    # two displays on one axes share a legend without repeats, named by threat model
    fig, ax = plt.subplots()
    CertificationDisplay.from_results(
        [0, 1], [0.5, 0.8], nominal=0.5, best=[0.5, 0.3], metric="mse", ax=ax, name="labels"
    )
    CertificationDisplay.from_results(
        [0, 1], [0.5, 0.6], nominal=0.5, best=[0.5, 0.4], metric="mse", ax=ax, name="features"
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "labels",
        "features",
        "certified (upper bound)",
        "best case (lower bound)",
        "nominal",
    ]
    plt.close("all")


def test_safety_efficacy_display_with_failed_fits():
    # GridSearchCV's default error_score=nan leaves NaN scores: those points get no label,
    # are not on the Pareto front, and do not break the label placement (it raised
    # 'cannot convert float NaN to integer')
    import matplotlib.pyplot as plt

    from sklpoison.model_selection import pareto_front
    from sklpoison.plotting import SafetyEfficacyDisplay

    nan = float("nan")
    assert pareto_front([0.9, nan, 0.8, 0.95], [0.5, 0.0, 0.1, nan]).tolist() == [
        True,
        False,
        True,
        False,
    ]
    disp = SafetyEfficacyDisplay(
        [0.9, nan, 0.8],
        [0.5, nan, 0.1],
        [0.1, 0.1, 0.1],
        [0.0, 1.0, 2.0],
        clean_accuracy_std=[0.01, nan, 0.02],
        asr_std=[0.1, nan, 0.2],
    ).plot()
    assert [t.get_text() for t in disp.annotations_] == ["κ=0", "κ=2"]
    assert disp.pareto_mask_.tolist() == [True, False, True]
    plt.close("all")
