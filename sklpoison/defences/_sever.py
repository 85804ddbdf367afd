"""Sever (Diakonikolas et al., 2019): robust training by filtering outlying gradients."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.extmath import randomized_svd

from ..base import _DelegatingClassifierMixin
from ..numerics._param_gradients import check_supported, make_param_grad_adapter
from ..utils.validation import (
    _default_estimator,
    _fit_clean,
    _label_codes,
    _validate_Xy,
    check_finite_result,
    check_n_classes,
    fraction_to_count,
    warn_user,
)


def _highest_keeping_each_class(rows, scores, codes, target):
    """The (at most) ``target`` highest-scoring ``rows``, never every row of a class.

    Rows are taken by decreasing score (ties by position); a row is skipped when it
    is the last one of its class still kept, so each class present keeps one row.
    """
    order = np.argsort(-scores, kind="stable")
    ranked = codes[order]
    # rank of each candidate within its class (0 for the class's highest score)
    n_classes = codes.max() + 1
    onehot = ranked[:, None] == np.arange(n_classes)
    rank_in_class = (np.cumsum(onehot, axis=0) - 1)[np.arange(ranked.size), ranked]
    removable = rank_in_class < np.bincount(codes, minlength=n_classes)[ranked] - 1
    return rows[order[removable][:target]]


# ------------------------------------------------------------------------ Sever
class Sever(_DelegatingClassifierMixin, ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    r"""Sever defence (Diakonikolas et al., 2019): drop gradient outliers, refit.

    Each of ``n_iter`` rounds fits ``estimator`` on the rows kept so far,
    computes the per-row loss gradients (over all parameters) at the fitted
    model, centres them, takes the top right singular vector :math:`v` of the
    centred matrix, scores each row by :math:`\tau_i = ((\nabla\ell_i -
    \bar g)\cdot v)^2` and removes the highest-scoring rows. In total
    ``round(removal_fraction * n)`` rows are removed, an equal share per round.
    The final model is refitted on the kept rows.

    The last kept row of a class is never removed (the next-highest score of another
    class goes instead), so the model is always fitted on every class of ``y``: a rare
    class, whose rows often carry the largest gradients, stays a class of
    ``classes_`` and of ``predict_proba``. If that leaves fewer than
    ``round(removal_fraction * n)`` removable rows, fewer are removed, with a warning.

    Parameters
    ----------
    estimator : estimator or None, default=None
        LogisticRegression, SGDClassifier(loss="log_loss") or a skorch
        NeuralNetClassifier. ``None`` means ``LogisticRegression()``.
    removal_fraction : float in [0, 1), default=0.1
        Fraction of the training rows removed in total (the assumed fraction of
        outliers, the :math:`\varepsilon` of the paper).
    n_iter : int, default=4
        Number of filtering rounds.
    random_state : int, RandomState instance or None, default=None
        Seed of the randomised SVD.

    Attributes
    ----------
    estimator_ : estimator
        The model refitted on the kept rows.
    outlier_mask_ : ndarray of bool of shape (n_samples,)
        ``True`` for removed rows.
    scores_ : ndarray of shape (n_samples,)
        Outlier score of each row in the round that removed it; for kept rows,
        their score in the last round.
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features.

    References
    ----------
    I. Diakonikolas et al., "Sever: a robust meta-algorithm for stochastic
    optimization", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import Sever
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
    >>> X[:10] = [8.0, 8.0]; y[:10] = 0
    >>> sever = Sever(removal_fraction=0.1, n_iter=2).fit(X, y)
    >>> int(sever.outlier_mask_[:10].sum())
    10
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "removal_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, removal_fraction=0.1, n_iter=4, random_state=None):
        self.estimator = estimator
        self.removal_fraction = removal_fraction
        self.n_iter = n_iter
        self.random_state = random_state

    def _model(self):
        return self.estimator_

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Filter outliers and fit on the remaining rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (possibly poisoned).
        y : array-like of shape (n_samples,)
            Training labels.

        Returns
        -------
        self : Sever
        """
        estimator = _default_estimator(self.estimator)
        self._kind_ = check_supported(estimator, "Sever")
        X, y = _validate_Xy(self, X, y, self._kind_)
        n = X.shape[0]
        self.classes_ = check_n_classes(y, "Sever")
        codes = np.searchsorted(self.classes_, y)
        rng = check_random_state(self.random_state)
        total = fraction_to_count(
            self.removal_fraction, n, name="removal_fraction", who="Sever", noun="rows removed"
        )
        keep = np.ones(n, dtype=bool)
        scores = np.zeros(n)
        removed = 0
        for r in range(self.n_iter):
            model = _fit_clean(estimator, X[keep], y[keep])
            target = int(round(total * (r + 1) / self.n_iter)) - removed
            adapter = make_param_grad_adapter(
                model, classes=self.classes_ if self._kind_ == "skorch" else None
            )
            rows = np.flatnonzero(keep)
            yi = _label_codes(adapter.classes_, y[rows], "Sever")
            G = adapter.per_sample_grads(adapter.get_theta(), X[rows], yi)
            G = G - G.mean(axis=0)
            if min(G.shape) > 1:
                _, _, vt = randomized_svd(G, 1, n_iter=7, random_state=rng)
                v = vt[0]
            else:
                v = np.ones(G.shape[1]) / np.sqrt(G.shape[1])
            s = (G @ v) ** 2
            check_finite_result(s, "Sever.fit", what="outlier scores", X=X[rows])
            scores[rows] = s
            if target > 0:
                drop = _highest_keeping_each_class(rows, s, codes[rows], target)
                keep[drop] = False
                removed += drop.size
        if removed < total:
            warn_user(
                f"Sever removed {removed} rows instead of round(removal_fraction * n) = "
                f"{total}: it keeps at least one row of each of the {self.classes_.size} "
                f"classes. Lower removal_fraction to silence this warning."
            )
        self.estimator_ = _fit_clean(estimator, X[keep], y[keep])
        self.outlier_mask_ = ~keep
        self.scores_ = scores
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
