"""CertificationDisplay: certified accuracy (or MSE bound) against the poisoning budget.

Both kinds of certificate draw here, on one axes if asked: those of
:class:`~sklpoison.IntervalCertifier` (one trained model, one refit per budget) and those of
:class:`~sklpoison.PartitionAggregationClassifier` (a certified defence, one fit for the whole
curve).
"""

import numpy as np


class CertificationDisplay:
    """Certified worst-case accuracy (or MSE) against the poisoning budget ``k`` and ``epsilon``.

    Build it with :meth:`from_estimator` (refits an
    :class:`~sklpoison.IntervalCertifier` for every budget, or fits a
    :class:`~sklpoison.PartitionAggregationClassifier` once) or
    :meth:`from_results` (precomputed numbers); both call :meth:`plot`. Displays drawn
    on one axes with a ``name`` each share its legend, and each draws its nominal
    accuracy in its own colour.

    Parameters
    ----------
    budgets : array-like of shape (n_budgets,)
        Poisoning budgets on the x axis (e.g. numbers of poisoned samples).
    worst : array-like of shape (n_budgets,) or (n_epsilons, n_budgets)
        Certified worst-case metric (lower bound on accuracy, upper bound on MSE).
    nominal : float, array-like of shape (n_budgets,) or (n_epsilons, n_budgets), or None
        Metric of the nominal model.
    best : array-like like ``worst`` or None, default=None
        Best-case bound (upper bound on accuracy, lower bound on MSE).
    epsilons : array-like of shape (n_epsilons,) or None, default=None
        Feature-perturbation radii, one curve each (``worst`` is then 2-D).
    budget_name : str, default="k"
        Label of the x axis.
    metric : {"accuracy", "mse"}, default="accuracy"
        What the numbers are.

    Attributes
    ----------
    figure_ : matplotlib Figure
    ax_ : matplotlib Axes
    lines_ : list of matplotlib Line2D
        The worst-case curves, one per epsilon.
    best_lines_ : list of matplotlib Line2D
        The best-case curves (dotted), one per epsilon, when ``best`` is given.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklpoison.plotting import CertificationDisplay
    >>> disp = CertificationDisplay.from_results([0, 1, 2], [0.9, 0.7, 0.4], nominal=0.9)
    >>> len(disp.lines_)
    1
    """

    def __init__(
        self,
        *,
        budgets,
        worst,
        nominal=None,
        best=None,
        epsilons=None,
        budget_name="k",
        metric="accuracy",
    ):
        self.budgets = budgets
        self.worst = worst
        self.nominal = nominal
        self.best = best
        self.epsilons = epsilons
        self.budget_name = budget_name
        self.metric = metric

    @classmethod
    def from_results(
        cls,
        budgets,
        worst,
        nominal=None,
        best=None,
        *,
        epsilons=None,
        budget_name="k",
        metric="accuracy",
        ax=None,
        name=None,
    ):
        """Plot precomputed certificates.

        Parameters
        ----------
        budgets, worst, nominal, best, epsilons, budget_name, metric
            See the class parameters.
        ax : matplotlib Axes or None, default=None
            Where to draw; a new figure when ``None``.
        name : str or None, default=None
            Legend label of the certified curve (e.g. the threat model), useful when
            several displays share one axes.

        Returns
        -------
        display : CertificationDisplay
        """
        budgets = np.asarray(budgets)
        worst = np.atleast_2d(np.asarray(worst, dtype=float))
        if worst.shape[1] != len(budgets):
            raise ValueError(
                f"worst must have one value per budget ({len(budgets)}); got shape {worst.shape}."
            )
        if epsilons is not None and len(epsilons) != worst.shape[0]:
            raise ValueError(
                f"worst must have one row per epsilon ({len(epsilons)}); got {worst.shape[0]}."
            )
        if metric not in ("accuracy", "mse"):
            raise ValueError(f"metric must be 'accuracy' or 'mse'; got {metric!r}.")
        display = cls(
            budgets=budgets,
            worst=worst,
            nominal=nominal,
            best=None if best is None else np.atleast_2d(np.asarray(best, dtype=float)),
            epsilons=epsilons,
            budget_name=budget_name,
            metric=metric,
        )
        return display.plot(ax=ax, name=name)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X_train,
        y_train,
        X_test,
        y_test,
        *,
        budgets=(0, 1, 2, 5, 10),
        budget_param="n_label_flips",
        epsilons=None,
        test_epsilon=0.0,
        ax=None,
        name=None,
    ):
        """Refit a certifier for every budget (and epsilon) and plot its certificates.

        Parameters
        ----------
        estimator : IntervalCertifier or PartitionAggregationClassifier
            Unfitted or fitted; it is cloned for every budget. An estimator with
            ``certified_radius`` (a certified defence such as
            :class:`~sklpoison.PartitionAggregationClassifier`) is cloned and fitted once:
            its :meth:`certified_accuracy` gives the whole curve, ``budgets`` counting
            poisoned training rows (insertions, removals or label flips) and the x axis
            is labelled ``"k (poisoned training rows)"``; ``budget_param``, ``epsilons``
            and ``test_epsilon`` do not apply to it.
        X_train, y_train : array-like
            Training data.
        X_test, y_test : array-like
            Data the certificates are evaluated on.
        budgets : sequence of int, default=(0, 1, 2, 5, 10)
            Values of ``budget_param``.
        budget_param : str, default="n_label_flips"
            Parameter that carries the budget, e.g. ``"n_poison"``.
        epsilons : sequence of float or None, default=None
            Values of the estimator's ``epsilon`` parameter, one curve each;
            ``None`` keeps the estimator's own.
        test_epsilon : float, default=0.0
            Test-time perturbation radius passed to the certificates.
        ax : matplotlib Axes or None, default=None
            Where to draw; a new figure when ``None``.
        name : str or None, default=None
            Legend label of the certified curve (see :meth:`from_results`).

        Returns
        -------
        display : CertificationDisplay
        """
        from sklearn.base import clone, is_regressor

        if hasattr(estimator, "certified_radius"):
            if epsilons is not None or test_epsilon != 0.0:
                raise ValueError(
                    f"epsilons and test_epsilon do not apply to {type(estimator).__name__}: its "
                    "certificates count poisoned training rows, not feature perturbations."
                )
            fitted = clone(estimator).fit(X_train, y_train)
            worst, nominal, best = fitted.certified_accuracy(X_test, y_test, np.asarray(budgets))
            return cls.from_results(
                budgets,
                worst,
                nominal,
                best,
                budget_name="k (poisoned training rows)",
                ax=ax,
                name=name,
            )
        if budget_param not in estimator.get_params():
            raise ValueError(f"{budget_param!r} is not a parameter of {type(estimator).__name__}.")
        eps_list = [None] if epsilons is None else list(epsilons)
        worst = np.empty((len(eps_list), len(budgets)))
        best = np.empty_like(worst)
        nominal = np.empty_like(worst)
        metric = "accuracy"
        for i, eps in enumerate(eps_list):
            for j, k in enumerate(budgets):
                est = clone(estimator).set_params(**{budget_param: k})
                if eps is not None:
                    est.set_params(epsilon=eps)
                est.fit(X_train, y_train)
                if is_regressor(est):
                    metric = "mse"
                    w, n, b = est.certified_mse(X_test, y_test, epsilon=test_epsilon)
                else:
                    w, n, b = est.certified_accuracy(X_test, y_test, epsilon=test_epsilon)
                worst[i, j], nominal[i, j], best[i, j] = w, n, b
        return cls.from_results(
            budgets,
            worst,
            nominal,
            best,
            epsilons=epsilons,
            budget_name=budget_param,
            metric=metric,
            ax=ax,
            name=name,
        )

    def plot(self, ax=None, *, show_best=True, name=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            Where to draw; a new figure when ``None``. Displays drawn on one axes share its
            legend (each label once).
        show_best : bool, default=True
            Also draw the best-case bound (dotted).
        name : str or None, default=None
            Legend label of the certified curve (with ``epsilons``: its prefix).

        Returns
        -------
        display : CertificationDisplay
            ``self``, with ``figure_``, ``ax_`` and ``lines_`` set.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            # constrained layout keeps the axis labels inside the saved figure
            fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        else:
            fig = ax.figure
        budgets = np.asarray(self.budgets)
        worst = np.atleast_2d(np.asarray(self.worst, dtype=float))
        best = None if self.best is None else np.atleast_2d(np.asarray(self.best, dtype=float))
        word = "accuracy" if self.metric == "accuracy" else "MSE"
        self.lines_ = []
        bound = ("lower", "upper") if self.metric == "accuracy" else ("upper", "lower")
        worst_text = f"certified ({bound[0]} bound)"
        best_text = f"best case ({bound[1]} bound)"
        self.best_lines_ = []
        for i in range(worst.shape[0]):
            label = worst_text if self.epsilons is None else f"$\\epsilon$={self.epsilons[i]:g}"
            if name is not None:
                label = name if self.epsilons is None else f"{name}, {label}"
            (line,) = ax.plot(budgets, worst[i], marker="o", label=label)
            self.lines_.append(line)
            if show_best and best is not None:
                (dotted,) = ax.plot(
                    budgets,
                    best[i],
                    ls=":",
                    color=line.get_color(),
                    label=best_text if self.epsilons is None and name is None else None,
                )
                self.best_lines_.append(dotted)
        if self.epsilons is not None or name is not None:  # a key for the styles, in gray
            from matplotlib.lines import Line2D

            ax.plot([], [], color="gray", marker="o", label=worst_text)
            if self.best_lines_:
                ax.add_line(Line2D([], [], color="gray", ls=":", label=best_text))
        if self.nominal is not None:
            nominal = np.atleast_2d(np.asarray(self.nominal, dtype=float))
            # a named display (one of several on this axes): its nominal in its own colour,
            # keyed by a gray dashed line
            color = "k" if name is None else self.lines_[0].get_color()
            label = "nominal" if name is None else None
            if nominal.size == 1:
                ax.axhline(float(nominal.ravel()[0]), color=color, ls="--", label=label)
            else:
                nominal = nominal.reshape(-1, len(budgets))[0]
                ax.plot(budgets, nominal, color=color, ls="--", label=label)
            if name is not None:
                ax.plot([], [], color="gray", ls="--", label="nominal")
        ax.set_xlabel(self.budget_name)
        ax.set_ylabel(f"{word} on the test data")
        if self.metric == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))  # another display on this axes: each label once
        keys = [k for k in (worst_text, best_text, "nominal") if k in unique]  # styles last
        order = [k for k in unique if k not in keys] + keys
        ax.legend([unique[k] for k in order], order, loc="best", fontsize="small")
        self.figure_, self.ax_ = fig, ax
        return self
