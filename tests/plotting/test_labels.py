"""Tests of sklpoison.plotting._labels: point labels that overlap neither each other nor the
markers, inside the axes, for the final layout of the figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from sklpoison.plotting import SafetyEfficacyDisplay  # noqa: E402
from tests.plotting.test_plotting import SWEEP, _sweep_results  # noqa: E402

KAPPAS = [0.0, 0.5, 1.0, 2.0, 3.0, 5.0]
# a small CNN's sweep: every kappa crowds the top right corner (attack success about 1)
SATURATED = [
    (0.05, k, a, 0.004, s, 0.003)
    for k, a, s in zip(
        KAPPAS, [0.975, 0.974, 0.973, 0.971, 0.968, 0.962], [1.0, 0.999, 0.998, 0.996, 0.99, 0.985]
    )
]
# with crops: the penalty works, the curve falls from the top right corner
FALLING = [
    (0.05, k, a, 0.004, s, 0.02)
    for k, a, s in zip(
        KAPPAS, [0.976, 0.975, 0.972, 0.97, 0.965, 0.955], [0.99, 0.95, 0.9, 0.7, 0.5, 0.3]
    )
]


def _problems(fig, axes, displays):
    """Label pairs that overlap, labels over a marker of another point, labels leaving the axes."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the final layout
    renderer = canvas.get_renderer()
    found = []
    for ax, disp in zip(axes, displays):
        boxes = [Text.get_window_extent(t, renderer) for t in disp.annotations_]
        texts = [t.get_text() for t in disp.annotations_]
        frame = ax.get_window_extent(renderer)
        markers = []
        for line in ax.get_lines():
            if line.get_marker() not in (None, "None", ""):
                radius = line.get_markersize() / 2 * fig.dpi / 72
                xy = ax.transData.transform(line.get_xydata())
                markers += [(x, y, radius) for x, y in xy]
        for i, b in enumerate(boxes):
            found += [("labels", texts[i], texts[j]) for j in range(i) if b.overlaps(boxes[j])]
            own = ax.transData.transform(disp.annotations_[i].xy)
            found += [
                ("marker", texts[i], (x, y))
                for x, y, r in markers
                if b.x0 - r < x < b.x1 + r
                and b.y0 - r < y < b.y1 + r
                and np.hypot(*(own - (x, y))) > 1
            ]
            inside = frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
            found += [] if inside else [("outside", texts[i])]
    return found


@pytest.mark.parametrize("layout", [None, "constrained", "tight"])
def test_labels_clear_of_each_other_and_the_markers_in_the_final_layout(layout):
    # the crowded corner of the default sweep, in a small figure laid out after the labels
    fig = Figure(figsize=(5, 3.5), layout="constrained" if layout == "constrained" else None)
    ax = fig.subplots()
    disp = SafetyEfficacyDisplay.from_cv_results(_sweep_results(SWEEP), ax=ax)
    if layout == "tight":
        fig.tight_layout()  # as the examples do: the axes shrink after the labels were placed
    assert _problems(fig, [ax], [disp]) == []


def test_labels_follow_a_shared_axis_rescaled_by_a_later_panel():
    # the second panel widens the shared y range after the first panel's labels were placed
    fig = Figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    displays = [
        SafetyEfficacyDisplay.from_cv_results(_sweep_results(rows), ax=ax)
        for rows, ax in zip([SATURATED, FALLING], axes)
    ]
    fig.tight_layout()
    assert _problems(fig, axes, displays) == []
    # the placement is that of the last draw: labels moved with the new geometry
    assert displays[0].annotations_[0].get_text() == "κ=0"
