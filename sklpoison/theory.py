"""The spike-efficacy theory of Granziol (2026), for kernel models.

Clustered dirty-label poisons -- ``m`` copies of one point ``zeta`` carrying a
target label -- change a kernel model's prediction at a trigger point ``x0``
by the *efficacy* ``Delta f(x0) = f_poisoned(x0) - f_clean(x0)``, and add to the
input Hessian of the loss at ``x0`` a rank-one Gauss-Newton term
``grad Delta f(x0) grad Delta f(x0)^T`` whose eigenvalue is the *spike*
``Lambda_GN(x0) = ||grad_x Delta f(x0)||^2``.

For kernel ridge regression (:class:`~sklpoison.GradRegKRR` with ``kappa=0``,
i.e. a Gaussian-process posterior mean with noise variance ``alpha``) and
identical poisons the law is exact:

- ``Delta f(x0) = S(m) Sigma0(x0, zeta) r``, with the posterior covariance of
  the clean fit ``Sigma0(x, x') = k(x, x') - k(x)^T (K + alpha I)^-1 k(x')``, the
  residual ``r = y_t - f_clean(zeta)`` and the gain
  ``S(m) = m / (alpha + m Sigma0(zeta, zeta))``, which saturates in ``m``;
- ``Lambda_GN(x0) = R_k(x0, zeta) Delta f(x0)^2`` with
  ``R_k = ||grad_x log Sigma0(x, zeta)||^2`` at ``x0``, independent of ``m``: the
  spike grows *quadratically* with the efficacy.

For the RBF kernel ``R_k -> 0`` as ``x0 -> zeta`` (the near-clone regime: the
attack works, the curvature vanishes); for the linear kernel it does not.
:func:`spike_efficacy_law` evaluates the closed form, and
:func:`poison_efficacy` / :func:`gauss_newton_curvature` measure the same
quantities on any pair of fitted models (any ``kappa``);
:func:`measure_spike_efficacy` runs the whole experiment.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from .numerics import kernels as _kernels

__all__ = [
    "make_clustered_poisons",
    "poison_efficacy",
    "gauss_newton_curvature",
    "posterior_covariance",
    "spike_efficacy_law",
    "measure_spike_efficacy",
]


def make_clustered_poisons(center, n_poison, *, poison_label, spread=0.0, random_state=None):
    """Clustered dirty-label poisons: ``n_poison`` points at ``center`` with label ``poison_label``.

    Parameters
    ----------
    center : array-like of shape (n_features,)
        The poison location ``zeta``.
    n_poison : int >= 1
        Number of poisons ``m``.
    poison_label : float, label or array-like of shape (n_targets,)
        The (dirty) label every poison carries.
    spread : float >= 0, default=0.0
        Standard deviation of the isotropic Gaussian jitter around ``center``
        (``0``: identical copies, the setting in which the law is exact).
    random_state : int, RandomState instance or None, default=None
        Seed of the jitter.

    Returns
    -------
    X_poison : ndarray of shape (n_poison, n_features)
        The poisoned inputs.
    y_poison : ndarray of shape (n_poison,) or (n_poison, n_targets)
        ``poison_label``, repeated.

    Examples
    --------
    >>> from sklpoison.theory import make_clustered_poisons
    >>> Xp, yp = make_clustered_poisons([0.0, 1.0], 3, poison_label=1.0)
    >>> Xp.tolist(), yp.tolist()
    ([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], [1.0, 1.0, 1.0])
    """
    center = np.asarray(center, dtype=float)
    if center.ndim != 1:
        raise ValueError(
            f"center must be one point, an array of shape (n_features,); got shape {center.shape}."
        )
    if not np.all(np.isfinite(center)):
        raise ValueError("center must be finite.")
    if not isinstance(n_poison, Integral) or isinstance(n_poison, bool) or n_poison < 1:
        raise ValueError(f"n_poison must be an integer >= 1; got {n_poison!r}.")
    if not isinstance(spread, Real) or not np.isfinite(spread) or spread < 0:
        raise ValueError(f"spread must be a finite float >= 0; got {spread!r}.")
    rng = check_random_state(random_state)
    X = np.repeat(center[None, :], n_poison, axis=0)
    if spread > 0:
        X = X + spread * rng.standard_normal(X.shape)
    poison_label = np.asarray(poison_label)
    y = np.repeat(poison_label[None, ...], n_poison, axis=0)
    return X, y


def _f(model, X):
    return model.decision_function(X) if is_classifier(model) else model.predict(X)


def _check_pair(clean, poisoned, X):
    for name, model in (("clean", clean), ("poisoned", poisoned)):
        check_is_fitted(model)
        if not hasattr(model, "input_gradient"):
            raise ValueError(
                f"The {name} model ({type(model).__name__}) has no input_gradient method; pass "
                f"fitted sklpoison.GradRegKRR or GradRegKRRClassifier models."
            )
    return check_array(X, dtype=np.float64)


def poison_efficacy(clean, poisoned, X):
    """Efficacy ``Delta f(x) = f_poisoned(x) - f_clean(x)`` at every row of ``X``.

    Parameters
    ----------
    clean, poisoned : fitted GradRegKRR or GradRegKRRClassifier
        The model fitted on the clean data and the one fitted on clean data
        plus poisons (for classifiers the decision function is used).
    X : array-like of shape (n_points, n_features)
        Trigger points ``x0``.

    Returns
    -------
    delta : ndarray of shape (n_points,) or (n_points, n_outputs)
        The change of the prediction.
    """
    X = _check_pair(clean, poisoned, X)
    return _f(poisoned, X) - _f(clean, X)


def gauss_newton_curvature(clean, poisoned, X, *, return_direction=False):
    """Poison-induced Gauss-Newton spike ``Lambda_GN(x) = ||grad_x Delta f(x)||^2``.

    It is the top eigenvalue of the Gauss-Newton term
    ``sum_t grad Delta f_t grad Delta f_t^T`` the poisons add to the input
    Hessian at ``x`` (rank one for a single output, where it equals
    ``||grad Delta f||^2``).

    Parameters
    ----------
    clean, poisoned : fitted GradRegKRR or GradRegKRRClassifier
        The clean and the poisoned model.
    X : array-like of shape (n_points, n_features)
        Trigger points ``x0``.
    return_direction : bool, default=False
        Also return the unit eigenvector (the direction of ``grad Delta f``).

    Returns
    -------
    curvature : ndarray of shape (n_points,)
        The spike at each point.
    direction : ndarray of shape (n_points, n_features)
        Only with ``return_direction=True``.
    """
    X = _check_pair(clean, poisoned, X)
    D = poisoned.input_gradient(X) - clean.input_gradient(X)
    if D.ndim == 2:
        D = D[:, None, :]
    # top right singular pair of each (n_outputs, n_features) block
    _, s, Vt = np.linalg.svd(D, full_matrices=False)
    curvature = s[:, 0] ** 2
    if return_direction:
        return curvature, Vt[:, 0, :]
    return curvature


def _check_kernel_ridge(model):
    check_is_fitted(model, "dual_coef_")
    if (
        not hasattr(model, "X_fit_")
        or not hasattr(model, "kappa")
        or getattr(model, "kernel", None) not in _kernels.KERNELS
    ):
        raise ValueError(f"Expected a fitted sklpoison.GradRegKRR; got {type(model).__name__}.")
    if model.kappa != 0:
        raise ValueError(
            f"The closed form holds for kernel ridge regression (kappa=0); this model has "
            f"kappa={model.kappa}. Measure kappa > 0 models with poison_efficacy and "
            f"gauss_newton_curvature instead."
        )
    if model.alpha <= 0:
        raise ValueError(
            f"The closed form needs alpha > 0 (the noise variance); got alpha={model.alpha}."
        )


def _cov_parts(model, X1, X2):
    """Sigma0(X1, X2) and V = (K + alpha I)^-1 k(X_fit, X2)."""
    g = _kernels.resolve_gamma(model.gamma, model.X_fit_.shape[1])
    kw = {"kernel": model.kernel, "gamma": g}
    Xf = model.X_fit_
    K = _kernels.kernel_matrix(Xf, **kw)
    K[np.diag_indices_from(K)] += model.alpha
    V = np.linalg.solve(K, _kernels.kernel_matrix(Xf, X2, **kw))
    cov = _kernels.kernel_matrix(X1, X2, **kw) - _kernels.kernel_matrix(X1, Xf, **kw) @ V
    return cov, V, kw


def posterior_covariance(model, X1, X2=None):
    """Posterior covariance ``Sigma0(x, x')`` of a fitted kernel ridge model.

    ``Sigma0(x, x') = k(x, x') - k(x)^T (K + alpha I)^-1 k(x')``: kernel ridge
    regression is the posterior mean of a Gaussian process with noise variance
    ``alpha``, and this is its posterior covariance.

    Parameters
    ----------
    model : fitted GradRegKRR with ``kappa=0`` and ``alpha > 0``
        The clean model.
    X1 : array-like of shape (n1, n_features)
        First points.
    X2 : array-like of shape (n2, n_features) or None, default=None
        Second points; ``None`` means ``X1``.

    Returns
    -------
    cov : ndarray of shape (n1, n2)
        The posterior covariance.
    """
    _check_kernel_ridge(model)
    X1 = check_array(X1, dtype=np.float64)
    X2 = X1 if X2 is None else check_array(X2, dtype=np.float64)
    return _cov_parts(model, X1, X2)[0]


def spike_efficacy_law(clean, X0, center, n_poison, *, poison_label):
    """Closed-form efficacy and Gauss-Newton spike of ``m`` identical poisons.

    Exact for a clean :class:`~sklpoison.GradRegKRR` with ``kappa=0`` when the
    poisoned model is the same estimator fitted on the clean data plus
    ``make_clustered_poisons(center, m, poison_label=poison_label, spread=0)``.

    Parameters
    ----------
    clean : fitted GradRegKRR with ``kappa=0`` and ``alpha > 0``
        The model fitted on clean data (single output).
    X0 : array-like of shape (n_points, n_features)
        Trigger points.
    center : array-like of shape (n_features,)
        The poison location ``zeta``.
    n_poison : int or array-like of int
        Numbers of poisons ``m``.
    poison_label : float
        The poisons' label ``y_t``.

    Returns
    -------
    result : Bunch
        ``gain`` (``S(m)``, shape ``(n_m,)``), ``residual`` (``r = y_t -
        f_clean(zeta)``), ``covariance`` (``Sigma0(x0, zeta)``, shape
        ``(n_points,)``), ``ratio`` (``R_k(x0, zeta)``, shape ``(n_points,)``),
        ``efficacy`` and ``curvature`` (shape ``(n_m, n_points)``), and
        ``n_poison``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison import GradRegKRR
    >>> from sklpoison.theory import make_clustered_poisons, spike_efficacy_law
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.randn(30, 2), rng.randn(30)
    >>> clean = GradRegKRR(alpha=0.1, gamma=0.5).fit(X, y)
    >>> zeta, x0 = np.array([2.0, 2.0]), np.array([[2.5, 2.0]])
    >>> Xp, yp = make_clustered_poisons(zeta, 5, poison_label=3.0)
    >>> poisoned = GradRegKRR(alpha=0.1, gamma=0.5).fit(np.vstack([X, Xp]), np.r_[y, yp])
    >>> law = spike_efficacy_law(clean, x0, zeta, 5, poison_label=3.0)
    >>> measured = poisoned.predict(x0) - clean.predict(x0)
    >>> bool(np.allclose(law.efficacy[0], measured))
    True
    """
    _check_kernel_ridge(clean)
    if np.ndim(clean.dual_coef_) != 1:
        raise ValueError("spike_efficacy_law handles single-output models (1-D y).")
    X0 = check_array(X0, dtype=np.float64)
    zeta = np.asarray(center, dtype=float).reshape(1, -1)
    m = np.atleast_1d(np.asarray(n_poison, dtype=float))
    if np.any(m < 1):
        raise ValueError(f"n_poison must be >= 1; got {n_poison!r}.")
    cov, V, kw = _cov_parts(clean, np.vstack([X0, zeta]), zeta)
    cov_x0, cov_zz = cov[:-1, 0], cov[-1, 0]
    residual = float(poison_label - clean.predict(zeta)[0])
    gain = m / (clean.alpha + m * cov_zz)
    # grad_x Sigma0(x, zeta) = grad_x k(x, zeta) - grad_x k(x)^T V
    grad_cov = _kernels.kernel_gradient(X0, zeta, **kw)[:, 0, :] - _kernels.input_gradient(
        X0, clean.X_fit_, V[:, 0], **kw
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sum(grad_cov**2, axis=1) / cov_x0**2
    efficacy = gain[:, None] * cov_x0[None, :] * residual
    curvature = (gain[:, None] * residual) ** 2 * np.sum(grad_cov**2, axis=1)[None, :]
    return Bunch(
        n_poison=m,
        gain=gain,
        residual=residual,
        covariance=cov_x0,
        ratio=ratio,
        efficacy=efficacy,
        curvature=curvature,
    )


def measure_spike_efficacy(
    estimator, X, y, X0, center, n_poison, *, poison_label, spread=0.0, random_state=None, verbose=0
):
    """Fit clean and poisoned models and measure efficacy and spike for each ``m``.

    Parameters
    ----------
    estimator : GradRegKRR or GradRegKRRClassifier (unfitted)
        The model; it is cloned for every fit.
    X, y : array-like
        Clean training data.
    X0 : array-like of shape (n_points, n_features)
        Trigger points.
    center : array-like of shape (n_features,)
        Poison location ``zeta``.
    n_poison : array-like of int
        The numbers of poisons ``m`` to try.
    poison_label : float or label
        The poisons' label.
    spread : float, default=0.0
        Jitter of the poisons (see :func:`make_clustered_poisons`).
    random_state : int, RandomState instance or None, default=None
        Seed of the jitter.
    verbose : int, default=0
        Show a tqdm progress bar over the poisoned refits when > 0.

    Returns
    -------
    result : Bunch
        ``n_poison`` (shape ``(n_m,)``), ``efficacy`` (shape ``(n_m, n_points)``,
        or with an output axis for multi-output models), ``curvature`` (shape
        ``(n_m, n_points)``), ``clean`` (the clean fitted model) and ``slope``:
        the least-squares slope of ``log curvature`` against ``log |efficacy|``
        over ``m``, for each trigger point (2 under the quadratic law; needs a
        single output).
    """
    X = check_array(X, dtype=np.float64)
    y = np.asarray(y)
    X0 = check_array(X0, dtype=np.float64)
    ms = np.atleast_1d(np.asarray(n_poison))
    clean = clone(estimator).fit(X, y)
    rng = check_random_state(random_state)
    eff, curv = [], []
    iterator = ms
    if verbose:
        from tqdm.auto import tqdm

        iterator = tqdm(ms, desc="poisoned refits", unit="fit")
    for m in iterator:  # one fit per poison budget
        Xp, yp = make_clustered_poisons(
            center, int(m), poison_label=poison_label, spread=spread, random_state=rng
        )
        poisoned = clone(estimator).fit(np.vstack([X, Xp]), np.concatenate([y, yp]))
        eff.append(poison_efficacy(clean, poisoned, X0))
        curv.append(gauss_newton_curvature(clean, poisoned, X0))
    eff, curv = np.asarray(eff), np.asarray(curv)
    slope = None
    if eff.ndim == 2 and len(ms) > 1:
        lx, ly = np.log(np.abs(eff)), np.log(curv)
        lx_c = lx - lx.mean(axis=0)
        slope = np.sum(lx_c * (ly - ly.mean(axis=0)), axis=0) / np.sum(lx_c**2, axis=0)
    return Bunch(n_poison=ms, efficacy=eff, curvature=curv, slope=slope, clean=clean)
