"""Safety-efficacy trade-off plot: attack success against clean accuracy along κ."""

import numpy as np

from ..model_selection import pareto_front, tradeoff_table
from ._labels import place_labels

__all__ = ["SafetyEfficacyDisplay"]


class SafetyEfficacyDisplay:
    """Attack success against clean accuracy, one curve per θ along κ, Pareto front marked.

    Each point is one (θ, κ) cell of a sweep: its mean cross-validated clean
    accuracy (x) and attack success (y). Points of the same poisoning fraction
    θ are joined in order of increasing κ; the points that no other point beats
    in both clean accuracy (higher) and attack success (lower) form the Pareto
    front, drawn as a dashed staircase with hollow markers. By default the
    front is taken within each θ (the best κ against a given attack); with
    ``pareto="all"`` over all points. Granziol et al.
    (2026) show that raising κ moves a model down and to the left: the
    safety-efficacy trade-off.

    Build it with :meth:`from_cv_results`; instantiating it directly then
    calling :meth:`plot` is also possible.

    Parameters
    ----------
    clean_accuracy, asr : ndarray of shape (n_points,)
        Mean clean accuracy and attack success of each point.
    poison_rate, kappa : ndarray of shape (n_points,)
        Poisoning fraction and regularisation strength of each point (θ may be
        NaN when the sweep has no θ).
    clean_accuracy_std, asr_std : ndarray of shape (n_points,) or None, default=None
        Standard deviations across folds, drawn as error bars when given.

    Attributes
    ----------
    pareto_mask_ : ndarray of bool
        Points on the Pareto front (of their θ, or of all points).
    lines_ : dict
        θ -> the :class:`matplotlib.lines.Line2D` of its curve.
    pareto_lines_ : dict
        θ (or ``"all"``) -> the :class:`matplotlib.lines.Line2D` of the front.
    errorbars_ : dict
        θ -> the :class:`~matplotlib.container.ErrorbarContainer` of its curve (empty without
        standard deviations or with ``errorbars=False``).
    annotations_ : list of matplotlib Text
        The κ labels.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklpoison.plotting import SafetyEfficacyDisplay
    >>> res = {"param_m__kappa": [0.0, 1.0, 0.0, 1.0],
    ...        "param_p__poison_rate": [0.05, 0.05, 0.1, 0.1],
    ...        "mean_test_clean_accuracy": [0.97, 0.93, 0.96, 0.92],
    ...        "mean_test_neg_asr": [-0.80, -0.20, -0.95, -0.40]}
    >>> disp = SafetyEfficacyDisplay.from_cv_results(res)
    >>> disp.pareto_mask_.tolist()
    [True, True, True, True]
    >>> SafetyEfficacyDisplay.from_cv_results(res, pareto="all").pareto_mask_.tolist()
    [True, True, False, False]
    """

    def __init__(
        self, clean_accuracy, asr, poison_rate, kappa, *, clean_accuracy_std=None, asr_std=None
    ):
        self.clean_accuracy = np.asarray(clean_accuracy, dtype=float)
        self.asr = np.asarray(asr, dtype=float)
        self.poison_rate = np.asarray(poison_rate, dtype=float)
        self.kappa = np.asarray(kappa, dtype=float)
        self.clean_accuracy_std = clean_accuracy_std
        self.asr_std = asr_std

    @classmethod
    def from_cv_results(
        cls,
        cv_results,
        *,
        kappa_param=None,
        poison_rate_param=None,
        clean_key="clean_accuracy",
        asr_key="neg_asr",
        ax=None,
        annotate=True,
        errorbars=True,
        pareto="per_theta",
        front_kw=None,
    ):
        """Plot the trade-off of a κ×θ sweep from ``GridSearchCV.cv_results_``.

        Parameters
        ----------
        cv_results : dict
            ``cv_results_`` of a search scored with ``clean_key`` and
            ``asr_key`` (see :func:`sklpoison.model_selection.tradeoff_table`).
        kappa_param, poison_rate_param : str or None, default=None
            Parameter names; ``None`` finds the ones ending in ``kappa`` and
            ``poison_rate``.
        clean_key : str, default="clean_accuracy"
            Scorer name of clean accuracy.
        asr_key : str, default="neg_asr"
            Scorer name of attack success: ``neg_asr``
            (:data:`sklpoison.metrics.neg_asr_scorer`) is negated back; a name
            without ``neg_`` is read as the rate itself. The plot's axis is the
            attack success rate in [0, 1].
        ax : matplotlib Axes or None, default=None
            Where to draw; ``None`` makes a new figure.
        annotate : bool, default=True
            Write the value of κ next to each point (placed so that labels do not overlap).
        errorbars : bool, default=True
            Draw the standard deviations across folds (``std_test_*``) as error bars.
        pareto : {"per_theta", "all"} or None, default="per_theta"
            Mark the Pareto front within each θ, over all points, or not at all.
        front_kw : dict or None, default=None
            Keyword arguments for the front's ``ax.plot`` call.

        Returns
        -------
        display : SafetyEfficacyDisplay
        """
        table = tradeoff_table(
            cv_results,
            kappa_param=kappa_param,
            poison_rate_param=poison_rate_param,
            clean_key=clean_key,
            asr_key=asr_key,
        )
        disp = cls(
            table.clean_accuracy,
            table.asr,
            table.poison_rate,
            table.kappa,
            clean_accuracy_std=table.clean_accuracy_std,
            asr_std=table.asr_std,
        )
        # keep the order of cv_results_ for the public arrays
        inverse = np.argsort(table.index)
        for name in ("clean_accuracy", "asr", "poison_rate", "kappa"):
            setattr(disp, name, getattr(disp, name)[inverse])
        disp.clean_accuracy_std = table.clean_accuracy_std[inverse]
        disp.asr_std = table.asr_std[inverse]
        return disp.plot(
            ax=ax, annotate=annotate, errorbars=errorbars, pareto=pareto, front_kw=front_kw
        )

    def plot(self, ax=None, *, annotate=True, errorbars=True, pareto="per_theta", front_kw=None):
        """Draw the curves and the Pareto front.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; ``None`` makes a new figure.
        annotate : bool, default=True
            Write κ next to each point (placed so that labels do not overlap).
        errorbars : bool, default=True
            Draw the standard deviations across folds (when known) as error bars, cut at 0
            and 1 (both axes are rates: a bar past them would show impossible values).
        pareto : {"per_theta", "all"} or None, default="per_theta"
            Mark the Pareto front within each θ, over all points, or not at all.
        front_kw : dict or None, default=None
            Keyword arguments for the front's ``ax.plot`` call.

        Returns
        -------
        self : SafetyEfficacyDisplay
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 4.8), layout="constrained")
        acc, asr, poison_rate, kappa = self.clean_accuracy, self.asr, self.poison_rate, self.kappa
        if not (acc.shape == asr.shape == poison_rate.shape == kappa.shape) or acc.ndim != 1:
            raise ValueError(
                "clean_accuracy, asr, poison_rate and kappa must be 1-D arrays of the same length."
            )
        if pareto not in ("per_theta", "all", None):
            raise ValueError(f"pareto must be 'per_theta', 'all' or None; got {pareto!r}.")
        poison_rates = np.unique(poison_rate[~np.isnan(poison_rate)]).tolist()
        if np.isnan(poison_rate).any():
            poison_rates.append(np.nan)
        groups = {
            t: np.flatnonzero(np.isnan(poison_rate) if np.isnan(t) else poison_rate == t)
            for t in poison_rates
        }
        self.pareto_mask_ = np.zeros(acc.shape, dtype=bool)
        if pareto == "all":
            self.pareto_mask_ = pareto_front(acc, asr)
            fronts = {"all": np.flatnonzero(self.pareto_mask_)}
        elif pareto == "per_theta":
            fronts = {}
            for t, idx in groups.items():
                fronts[t] = idx[pareto_front(acc[idx], asr[idx])]
                self.pareto_mask_[fronts[t]] = True
        else:
            fronts = {}
        self.lines_ = {}
        self.errorbars_ = {}
        for t in poison_rates:
            idx = groups[t]
            idx = idx[np.argsort(kappa[idx], kind="stable")]
            label = "all" if np.isnan(t) else f"θ = {t:g}"
            (line,) = ax.plot(acc[idx], asr[idx], marker="o", label=label)
            self.lines_[t] = line
            if errorbars and self.asr_std is not None and self.clean_accuracy_std is not None:
                self.errorbars_[t] = ax.errorbar(
                    acc[idx],
                    asr[idx],
                    xerr=_rate_errors(acc[idx], self.clean_accuracy_std, idx),
                    yerr=_rate_errors(asr[idx], self.asr_std, idx),
                    fmt="none",
                    ecolor=line.get_color(),
                    elinewidth=0.8,
                    capsize=2,
                    alpha=0.45,
                    zorder=line.get_zorder() - 0.1,
                )
        kw = {
            "linestyle": "--",
            "color": "black",
            "marker": "o",
            "markersize": 11,
            "markerfacecolor": "none",
            "drawstyle": "steps-post",
        }
        kw.update(front_kw or {})
        self.pareto_lines_ = {}
        for i, (key, front) in enumerate(fronts.items()):
            front = front[np.argsort(acc[front], kind="stable")]
            label = "Pareto front" + (" (per θ)" if pareto == "per_theta" else "")
            (self.pareto_lines_[key],) = ax.plot(
                acc[front], asr[front], **{"label": label if i == 0 else None, **kw}
            )
        ax.set_xlabel("clean accuracy (higher is better)")
        ax.set_ylabel("attack success rate (lower is better)")
        ax.set_title("Safety-efficacy trade-off along κ")
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if self.errorbars_:
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color="gray", alpha=0.6, marker="|", ls="-", lw=0.8))
            labels.append("± 1 std over CV folds")
        ax.legend(handles, labels, fontsize=8)
        self.annotations_ = []
        if annotate:
            # a point with a NaN score (a failed fit under error_score=nan) is not drawn
            order = [
                i for t in poison_rates for i in groups[t] if np.isfinite([acc[i], asr[i]]).all()
            ]
            colors = {i: self.lines_[t].get_color() for t in poison_rates for i in groups[t]}
            self.annotations_ = place_labels(
                ax,
                acc[order],
                asr[order],
                [f"κ={kappa[i]:g}" for i in order],
                [colors[i] for i in order],
            )
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


def _rate_errors(values, std, idx):
    """Lower and upper error-bar lengths ``± std`` around rates, cut at 0 and 1."""
    std = np.asarray(std, dtype=float)[idx]
    return np.vstack([np.minimum(std, values), np.minimum(std, 1 - values)])
