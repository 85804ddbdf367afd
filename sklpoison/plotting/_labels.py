"""Point labels that do not overlap: a greedy placement in display space."""

import numpy as np
from matplotlib.artist import Artist

# candidate directions around a point (first choice: up and to the right)
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
_DIRECTIONS += [(2, 1), (2, -1), (-2, 1), (-2, -1), (1, 2), (1, -2), (-1, 2), (-1, -2)]
_DISTANCES = (3.0, 12.0, 22.0, 34.0, 48.0)  # points from the point; beyond the first, a leader line
_LABEL_WEIGHT = 20.0  # cost per unit area of two overlapping labels, against 1 for markers
_OUTSIDE_COST = 1e5  # a label leaving the axes: worse than overlapping a label
_MARKER_RADIUS = 6.0  # points kept free around every point (the Pareto rings' radius is 5.5)


def _text_size(text, fontsize):
    """Width and height of ``text`` in points (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, height, descent = TextToPath().get_text_width_height_descent(
        text, FontProperties(size=fontsize), ismath=False
    )
    # as drawn: the descent, the white box's padding (0.05 fontsize) and a point of margin
    pad = 0.05 * fontsize + 1.0
    return width + 2 * pad, max(height + descent, 0.8 * fontsize) + 2 * pad


def _overlap(a, b):
    """Overlap area of boxes ``(x0, y0, x1, y1)``."""
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _marker_boxes(ax, scale):
    """Boxes ``(x0, y0, x1, y1)``, in points, of every marker drawn on ``ax``'s lines."""
    boxes = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_marker() in (None, "None", "", " "):
            continue
        r = max(line.get_markersize() / 2 + 1.0, _MARKER_RADIUS)
        xy = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float)) / scale
        boxes += [(px - r, py - r, px + r, py + r) for px, py in xy if np.isfinite([px, py]).all()]
    return boxes


def _line_samples(ax, scale, step=3.0):
    """Points (in points) every ``step`` along every line drawn on ``ax``, steps included."""
    from matplotlib.cbook import STEP_LOOKUP_MAP

    out = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_linestyle() in ("None", "", " "):
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy) < 2:
            continue
        style = line.get_drawstyle()
        if style in STEP_LOOKUP_MAP and style != "default":
            xy = np.column_stack(STEP_LOOKUP_MAP[style](xy[:, 0], xy[:, 1]))
        disp = ax.transData.transform(xy) / scale
        for a, b in zip(disp[:-1], disp[1:]):
            if not (np.isfinite(a).all() and np.isfinite(b).all()):
                continue  # matplotlib leaves a gap at a NaN point
            k = max(1, int(np.hypot(*(b - a)) // step))
            t = np.linspace(0, 1, k + 1)[:, None]
            out.append(a + t * (b - a))
    return np.concatenate(out) if out else np.empty((0, 2))


def _layout(ax, x, y, texts, fontsize):
    """Offsets (points), alignments and leader-line flags of the labels for the axes' current
    geometry: the greedy placement described in :func:`place_labels`."""
    scale = ax.figure.dpi / 72.0  # points -> pixels
    pts = ax.transData.transform(np.column_stack([x, y])) / scale  # in points
    bbox = ax.get_window_extent()
    frame = (bbox.x0 / scale, bbox.y0 / scale, bbox.x1 / scale, bbox.y1 / scale)
    r = _MARKER_RADIUS
    markers = _marker_boxes(ax, scale)  # every drawn marker, the Pareto front's rings too
    # crowded points first: the number of other points within 30 points
    dist = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    order = np.argsort(-(dist < 30).sum(axis=1), kind="stable")
    lines = _line_samples(ax, scale)
    placed = []
    out = [None] * len(texts)
    for i in order:
        w, h = _text_size(texts[i], fontsize)
        best = None
        for d in _DISTANCES:
            for ux, uy in _DIRECTIONS:
                norm = np.hypot(ux, uy)
                ox, oy = d * ux / norm + r * ux, d * uy / norm + r * uy
                ax_ = pts[i, 0] + ox
                ay_ = pts[i, 1] + oy
                x0 = ax_ if ux > 0 else (ax_ - w if ux < 0 else ax_ - w / 2)
                y0 = ay_ if uy > 0 else (ay_ - h if uy < 0 else ay_ - h / 2)
                box = (x0, y0, x0 + w, y0 + h)
                # text over text is unreadable: far worse than a label over a line
                cost = _LABEL_WEIGHT * sum(_overlap(box, b) for b in placed)
                cost += sum(
                    _overlap(box, m)
                    for m in markers
                    if abs(m[0] + m[2] - 2 * pts[i, 0]) + abs(m[1] + m[3] - 2 * pts[i, 1]) > 1
                )  # the markers of the labelled point itself excepted
                # lines crossing the label: a lighter cost per sampled point inside the box
                cost += 2.0 * np.count_nonzero(
                    (lines[:, 0] > box[0])
                    & (lines[:, 0] < box[2])
                    & (lines[:, 1] > box[1])
                    & (lines[:, 1] < box[3])
                )
                inside = (
                    box[0] >= frame[0]
                    and box[1] >= frame[1]
                    and box[2] <= frame[2]
                    and box[3] <= frame[3]
                )
                # outside the axes only when no place inside is free of labels and points
                cost += 0 if inside else _OUTSIDE_COST
                if best is None or cost < best[0] - 1e-9:
                    best = (cost, box, (ox, oy), (ux, uy), d)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        _, box, (ox, oy), (ux, uy), d = best
        placed.append(box)
        ha = "left" if ux > 0 else ("right" if ux < 0 else "center")
        va = "bottom" if uy > 0 else ("top" if uy < 0 else "center")
        out[i] = ((ox, oy), ha, va, d > _DISTANCES[0])
    return out


class _LabelPlacer(Artist):
    """Places its labels when the axes are drawn, so that the placement is that of the final
    geometry: after ``tight_layout`` or a constrained layout, a shared axis rescaled by a
    later plot, or a figure resized before saving. It draws before the labels (lower zorder)
    and draws nothing itself."""

    def __init__(self, ax, x, y, texts, annotations, fontsize):
        super().__init__()
        self._args = (ax, x, y, texts, fontsize)
        self.annotations = annotations
        self.set_zorder(annotations[0].get_zorder() - 0.01)

    def place(self):
        for ann, ((ox, oy), ha, va, leader) in zip(self.annotations, _layout(*self._args)):
            ann.xyann = (ox, oy)
            ann.set_horizontalalignment(ha)
            ann.set_verticalalignment(va)
            ann.arrow_patch.set_visible(leader)

    def draw(self, renderer):
        if self.get_visible():
            self.place()


def place_labels(ax, x, y, texts, colors, *, fontsize=7):
    """Annotate points ``(x[i], y[i])`` with ``texts[i]`` so that no two labels overlap.

    Each label goes to the first position around its point (near first, then farther with a
    thin leader line) that overlaps neither an earlier label nor any point nor a drawn line,
    inside the axes (else to the least-overlapping one); points in crowded places are
    labelled first. The placement is computed again whenever the axes are drawn, so it
    follows later changes of layout or data limits.

    Returns
    -------
    annotations : list of matplotlib Text, in the order of the points
    """
    ax.autoscale_view()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(texts) == 0:
        return []
    out = [
        ax.annotate(
            text,
            (xi, yi),
            textcoords="offset points",
            xytext=(0, 0),
            fontsize=fontsize,
            color=color,
            arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6, "alpha": 0.7},
            annotation_clip=False,
            bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.75},
        )
        for xi, yi, text, color in zip(x, y, texts, colors, strict=True)
    ]
    placer = _LabelPlacer(ax, x, y, texts, out, fontsize)
    placer.place()  # usable before the first draw too
    ax.add_artist(placer)
    return out
