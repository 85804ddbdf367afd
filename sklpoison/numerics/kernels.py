"""Kernel math shared by the kernel estimators and the curvature detectors.

Two kernels are supported:

- ``"rbf"``: :math:`k(x, x') = \\exp(-\\gamma \\|x - x'\\|^2)`;
- ``"linear"``: :math:`k(x, x') = x \\cdot x'`.

For a kernel model :math:`f(x) = \\sum_i a_i k(x, x_i)` this module gives the
kernel matrices, the input gradient :math:`\\nabla_x f` and input Hessian
:math:`\\nabla_x^2 f` at many points at once, and the closed form of the
gradient Gram matrix

.. math::

    G = \\sum_m J_m^\\top J_m, \\qquad (J_m)_{:, i} = \\nabla_x k(x_m, x_i),

so that :math:`a^\\top G a = \\sum_m \\|\\nabla_x f(x_m)\\|^2`. For the RBF kernel,
with :math:`B = X X^\\top` and :math:`D = \\mathrm{diag}(\\|x_m\\|^2)`,

.. math::

    G = (2\\gamma)^2 \\left[K D K - K (K \\circ B) - (K \\circ B) K + (K K) \\circ B\\right],

computed here as :math:`(2\\gamma)^2 [K N + (K N)^\\top + (K K) \\circ B]` with
:math:`N = K \\circ (D \\mathbf{1}\\mathbf{1}^\\top / 2 - B)`: one symmetric rank-``n``
update (``dsyrk``, :math:`K K`) and one symmetric rank-``2n`` update (``dsyr2k``,
:math:`K N + N^\\top K`), :math:`3 n^3 + O(n^2 d)` flops and :math:`O(n^2)` memory.
For the linear kernel :math:`\\nabla_x f = X^\\top a` everywhere and :math:`G = n K`.

Everything is vectorised with BLAS; nothing loops over samples and nothing
builds an ``n x n x d`` tensor except :func:`kernel_gradient`, which is meant
for a handful of query points.
"""

import numpy as np

__all__ = [
    "KERNELS",
    "resolve_gamma",
    "kernel_matrix",
    "kernel_gradient",
    "kernel_hessian",
    "input_gradient",
    "input_hessian",
    "input_hessian_operator",
    "gradient_gram",
    "regularised_system",
]

KERNELS = ("rbf", "linear")

# bytes of scratch memory one block of input_hessian may use
_HESSIAN_BLOCK_BYTES = 64 * 2**20


def _column_blocks(n):
    """Slices of at most 4 MiB-wide column blocks (and at most n / 16 columns) of n rows."""
    block = max(16, min(max(1, n // 16), (4 * 2**20) // (8 * max(1, n))))
    for start in range(0, n, block):
        yield slice(start, min(start + block, n))


def _average_with_transpose(K):
    """Replace the square ``K`` by ``(K + K^T) / 2`` in place, block by block."""
    for sl in _column_blocks(K.shape[0]):
        rest = slice(sl.stop, None)
        avg = K[sl, rest] + K[rest, sl].T
        avg *= 0.5
        K[sl, rest] = avg
        K[rest, sl] = avg.T
        D = K[sl, sl]
        D += D.T.copy()
        D *= 0.5
    return K


def _check_kernel(kernel):
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)}; got {kernel!r}.")


def resolve_gamma(gamma, n_features):
    """Return the RBF width: ``gamma`` or, when it is ``None``, ``1 / n_features``.

    Parameters
    ----------
    gamma : float or None
        The width parameter.
    n_features : int
        Number of input features.

    Returns
    -------
    gamma : float
        The resolved width, as in :func:`sklearn.metrics.pairwise.rbf_kernel`.
    """
    return 1.0 / n_features if gamma is None else float(gamma)


def _centre(X):
    """The point to centre on before expanding squared distances (which are translation
    invariant): the per-feature median. The mean would let one extreme row (an entry of
    1e150, finite, whose square is still finite) shift every other row by ~1e148 and
    cancel all their distances to 0; the median keeps ordinary rows near the origin."""
    return np.median(X, axis=0)


def kernel_matrix(X, Y=None, *, kernel="rbf", gamma=None):
    """Kernel matrix ``K[i, j] = k(X[i], Y[j])``.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        First set of points.
    Y : ndarray of shape (n_y, n_features) or None, default=None
        Second set of points; ``None`` means ``X`` (the result is then exactly
        symmetric with a unit diagonal for the RBF kernel).
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``. Ignored by "linear".

    Returns
    -------
    K : ndarray of shape (n_x, n_y)
        The kernel matrix.
    """
    _check_kernel(kernel)
    symmetric = Y is None
    Y = X if Y is None else Y
    if kernel == "linear":
        K = X @ Y.T
        return _average_with_transpose(K) if symmetric else K
    g = resolve_gamma(gamma, X.shape[1])
    # distances are translation invariant: centring avoids the cancellation of
    # ||x||^2 + ||y||^2 - 2 x.y for data far from the origin
    shift = _centre(Y)
    X = X - shift
    Y = X if symmetric else Y - shift
    # squared distances in one n x n buffer (no temporaries of that size)
    K = X @ Y.T
    K *= -2.0
    K += np.einsum("ij,ij->i", X, X)[:, None]
    K += np.einsum("ij,ij->i", Y, Y)[None, :]
    np.maximum(K, 0.0, out=K)
    if symmetric:
        # exact symmetry and a zero diagonal despite rounding in the expansion
        _average_with_transpose(K)
        np.fill_diagonal(K, 0.0)
    K *= -g
    np.exp(K, out=K)
    return K


def kernel_gradient(X, Y, *, kernel="rbf", gamma=None):
    """Input gradients ``grad[q, i] = d k(x, Y[i]) / dx`` at ``x = X[q]``.

    This builds an ``(n_x, n_y, n_features)`` tensor: meant for a few query
    points (a trigger, a poison centre), not for the training set. Model
    gradients are computed without it by :func:`input_gradient`.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        Points where the gradient is taken.
    Y : ndarray of shape (n_y, n_features)
        Kernel centres.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.

    Returns
    -------
    grad : ndarray of shape (n_x, n_y, n_features)
        ``-2 gamma k(x, y) (x - y)`` for RBF, ``y`` for linear.
    """
    _check_kernel(kernel)
    if kernel == "linear":
        return np.broadcast_to(Y[None, :, :], (X.shape[0],) + Y.shape).copy()
    g = resolve_gamma(gamma, X.shape[1])
    K = kernel_matrix(X, Y, kernel=kernel, gamma=g)
    diff = X[:, None, :] - Y[None, :, :]
    return (-2.0 * g) * K[:, :, None] * diff


def kernel_hessian(X, Y, *, kernel="rbf", gamma=None):
    """Input Hessians ``H[q, i] = d^2 k(x, Y[i]) / dx^2`` at ``x = X[q]``.

    Builds an ``(n_x, n_y, n_features, n_features)`` tensor: for a few points only.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        Points where the Hessian is taken.
    Y : ndarray of shape (n_y, n_features)
        Kernel centres.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.

    Returns
    -------
    hess : ndarray of shape (n_x, n_y, n_features, n_features)
        ``k(x, y) [4 gamma^2 (x - y)(x - y)^T - 2 gamma I]`` for RBF, zero for linear.
    """
    _check_kernel(kernel)
    d = X.shape[1]
    if kernel == "linear":
        return np.zeros((X.shape[0], Y.shape[0], d, d))
    g = resolve_gamma(gamma, d)
    K = kernel_matrix(X, Y, kernel=kernel, gamma=g)
    diff = X[:, None, :] - Y[None, :, :]
    outer = (4.0 * g * g) * diff[..., :, None] * diff[..., None, :]
    outer -= 2.0 * g * np.eye(d)
    return K[:, :, None, None] * outer


def _as_2d_coef(coef):
    coef = np.asarray(coef, dtype=float)
    return coef[:, None] if coef.ndim == 1 else coef


def input_gradient(X, X_fit, coef, *, kernel="rbf", gamma=None, K=None):
    """Input gradient of ``f(x) = sum_i coef[i] k(x, X_fit[i])`` at every row of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        Query points.
    X_fit : ndarray of shape (n, n_features)
        Kernel centres.
    coef : ndarray of shape (n,) or (n, n_targets)
        Dual coefficients.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.
    K : ndarray of shape (n_x, n) or None, default=None
        Precomputed ``kernel_matrix(X, X_fit)``.

    Returns
    -------
    grad : ndarray of shape (n_x, n_features) or (n_x, n_targets, n_features)
        The gradient; 2-D when ``coef`` is 1-D.

    Notes
    -----
    RBF: :math:`\\nabla f(x) = -2\\gamma [(K_x a)\\, x - X^\\top (K_x \\circ a^\\top)^\\top]`,
    i.e. ``-2 gamma (Kx @ a) x + 2 gamma (Kx * a) @ X_fit``: one matrix product per
    target, ``O(n_x n d)``.
    """
    _check_kernel(kernel)
    C = _as_2d_coef(coef)
    n_x, d = X.shape
    if kernel == "linear":
        w = X_fit.T @ C  # (d, t)
        grad = np.broadcast_to(w.T[None], (n_x, C.shape[1], d)).copy()
    else:
        g = resolve_gamma(gamma, d)
        if K is None:
            K = kernel_matrix(X, X_fit, kernel=kernel, gamma=g)
        # differences are translation invariant: centre on the kernel centres'
        # mean to avoid cancellation for data far from the origin
        shift = _centre(X_fit)
        X, X_fit = X - shift, X_fit - shift
        KC = K @ C  # (n_x, t)
        grad = np.empty((n_x, C.shape[1], d))
        for t in range(C.shape[1]):  # loop over targets, not samples
            grad[:, t, :] = (K * C[:, t]) @ X_fit
            grad[:, t, :] -= KC[:, t, None] * X
        grad *= 2.0 * g
    return grad[:, 0, :] if np.ndim(coef) == 1 else grad


def input_hessian(X, X_fit, coef, *, kernel="rbf", gamma=None, K=None):
    """Input Hessian of ``f(x) = sum_i coef[i] k(x, X_fit[i])`` at every row of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        Query points.
    X_fit : ndarray of shape (n, n_features)
        Kernel centres.
    coef : ndarray of shape (n,) or (n, n_targets)
        Dual coefficients.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.
    K : ndarray of shape (n_x, n) or None, default=None
        Precomputed ``kernel_matrix(X, X_fit)``.

    Returns
    -------
    hess : ndarray of shape (n_x, n_features, n_features) or \
            (n_x, n_targets, n_features, n_features)
        The symmetric Hessians; without the target axis when ``coef`` is 1-D.

    Notes
    -----
    RBF: with :math:`w_i = a_i k(x, x_i)` and :math:`s = \\sum_i w_i`,
    :math:`\\nabla^2 f(x) = 4\\gamma^2 [s\\, x x^\\top - x u^\\top - u x^\\top + X^\\top
    \\mathrm{diag}(w) X] - 2\\gamma s I` with :math:`u = X^\\top w`. The last term is a
    batched matrix product over blocks of query points (scratch memory bounded by
    64 MiB per block).
    """
    _check_kernel(kernel)
    C = _as_2d_coef(coef)
    n_x, d = X.shape
    n_t = C.shape[1]
    hess = np.zeros((n_x, n_t, d, d))
    if kernel == "rbf":
        g = resolve_gamma(gamma, d)
        if K is None:
            K = kernel_matrix(X, X_fit, kernel=kernel, gamma=g)
        shift = _centre(X_fit)  # translation invariance, as in input_gradient
        X, X_fit = X - shift, X_fit - shift
        n = X_fit.shape[0]
        block = max(1, int(_HESSIAN_BLOCK_BYTES // (8 * max(1, n * d))))
        eye = np.eye(d)
        for t in range(n_t):
            W = K * C[:, t]  # (n_x, n): w_i per query point
            s = W.sum(axis=1)
            U = W @ X_fit  # (n_x, d)
            for start in range(0, n_x, block):  # blocks of query points, bounded memory
                sl = slice(start, start + block)
                Xq, Wq, Uq, sq = X[sl], W[sl], U[sl], s[sl]
                H = np.matmul(Wq[:, None, :] * X_fit.T[None, :, :], X_fit)  # X^T diag(w) X
                xu = Xq[:, :, None] * Uq[:, None, :]
                H += sq[:, None, None] * (Xq[:, :, None] * Xq[:, None, :])
                H -= xu
                H -= np.swapaxes(xu, 1, 2)
                H *= 4.0 * g * g
                H -= (2.0 * g) * sq[:, None, None] * eye
                hess[sl, t] = H
    return hess[:, 0] if np.ndim(coef) == 1 else hess


def input_hessian_operator(
    X, X_fit, coef, *, kernel="rbf", gamma=None, K=None, output_weights=None
):
    """Matrix-free products with the input Hessians of a kernel model, at every row of ``X``.

    For ``f_t(x) = sum_i coef[i, t] k(x, X_fit[i])`` and weights ``w`` (one per
    query point and output), returns the map ``V -> [H_1 v_1, ..., H_{n_x} v_{n_x}]``
    with ``H_q = sum_t w[q, t] ∇²f_t(x_q)``, without ever forming a ``d x d`` matrix.

    Parameters
    ----------
    X : ndarray of shape (n_x, n_features)
        Query points.
    X_fit : ndarray of shape (n, n_features)
        Kernel centres.
    coef : ndarray of shape (n,) or (n, n_targets)
        Dual coefficients.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.
    K : ndarray of shape (n_x, n) or None, default=None
        Precomputed ``kernel_matrix(X, X_fit)``.
    output_weights : ndarray of shape (n_x, n_targets) or None, default=None
        The weights ``w``; ``None`` is allowed for a 1-D ``coef`` only (``w = 1``).

    Returns
    -------
    matvec : callable
        ``matvec(V)`` with ``V`` of shape ``(n_x, n_features)`` returns the
        ``(n_x, n_features)`` products.

    Notes
    -----
    A weighted sum of the outputs is itself a kernel model, with per-query
    coefficients ``coef @ w_q``, so with :math:`w_{qi} = k(x_q, x_i)\\,(C w_q)_i`,
    :math:`s_q = \\sum_i w_{qi}` and :math:`u_q = X^\top w_q` the RBF Hessian of
    :func:`input_hessian` gives

    .. math::

        H_q v = 4\\gamma^2 [s_q (x_q \\cdot v) x_q - (u_q \\cdot v) x_q - (x_q \\cdot v) u_q
                + X^\top (w_q \\circ X v)] - 2\\gamma s_q v .

    Setting up costs ``O(n_x n (d + t))`` and every product ``O(n_x n d)`` (two
    matrix products), against ``O(n_x n d^2)`` time and ``n_x d^2`` memory for
    the dense Hessians. The linear kernel's model is linear: its Hessians are zero.
    """
    _check_kernel(kernel)
    C = _as_2d_coef(coef)
    n_x, d = X.shape
    if output_weights is None:
        if np.ndim(coef) != 1:
            raise ValueError("output_weights is required for a model with several outputs.")
        output_weights = np.ones((n_x, 1))
    w = np.asarray(output_weights, dtype=float).reshape(n_x, C.shape[1])
    if kernel == "linear":
        return lambda V: np.zeros((n_x, d))
    g = resolve_gamma(gamma, d)
    if K is None:
        K = kernel_matrix(X, X_fit, kernel=kernel, gamma=g)
    shift = _centre(X_fit)  # translation invariance, as in input_gradient
    Xc, Fc = X - shift, X_fit - shift
    W = K * (w @ C.T)  # (n_x, n)
    s = W.sum(axis=1)[:, None]
    U = W @ Fc  # (n_x, d)

    def matvec(V):
        V = np.asarray(V, dtype=float).reshape(n_x, d)
        xv = np.einsum("qd,qd->q", Xc, V)[:, None]
        uv = np.einsum("qd,qd->q", U, V)[:, None]
        out = (W * (V @ Fc.T)) @ Fc  # X^T (w_q ∘ X v_q), row by row
        out += (s * xv - uv) * Xc
        out -= xv * U
        out *= 4.0 * g * g
        out -= (2.0 * g) * s * V
        return out

    return matvec


def _symmetrize_lower(C):
    """Copy the lower triangle of the square ``C`` onto its upper triangle, in place."""
    for sl in _column_blocks(C.shape[0]):
        C[sl, sl.stop :] = C[sl.stop :, sl].T
        tri = np.tril(C[sl, sl], -1)
        C[sl, sl] = np.tril(C[sl, sl]) + tri.T
    return C


def _gram_lower(X, K, *, kernel, gamma, kk_scale, alpha, kappa, KK=None):
    """Lower triangle of ``kk_scale K K + alpha K + kappa G`` (Fortran order, in BLAS).

    Only the lower triangle of the returned array is meaningful. ``K K`` is one
    ``dsyrk`` (``n^3`` flops, half a general product) and, for the RBF kernel,
    ``K N + N^T K`` is one ``dsyr2k`` (``2 n^3`` flops, two products for the
    price of one) accumulated into the same buffer. Peak memory: ``K``, the
    result and one ``n x n`` scratch matrix (``B``, then ``N`` in place).
    """
    from scipy.linalg import blas

    n, d = X.shape
    # K is symmetric, so its C-ordered buffer read in Fortran order (K.T) is K itself
    if KK is None:
        C = blas.dsyrk(1.0, K.T, lower=1)  # lower triangle of K K
    else:
        C = np.array(KK, dtype=np.float64, order="F")
    if kernel == "linear":  # G = n K
        for sl in _column_blocks(n):
            C[:, sl] *= kk_scale
            C[:, sl] += (alpha + kappa * n) * K[sl].T
        return C
    c = kappa * (2.0 * resolve_gamma(gamma, d)) ** 2
    # G only involves differences x_m - x_i: centre X so that the expansion does
    # not cancel catastrophically for data far from the origin
    X = X - _centre(X)
    B = X @ X.T  # symmetric
    # C <- K K o (kk_scale + c B) + alpha K, column block by column block
    for sl in _column_blocks(n):
        scale = c * B[sl].T
        scale += kk_scale
        C[:, sl] *= scale
        if alpha:
            C[:, sl] += alpha * K[sl].T
    if c == 0.0:
        return C
    # N = K o (diag(||x||^2) 1 1^T / 2 - B), in place of B
    sq = np.einsum("ij,ij->i", X, X)
    B *= -1.0
    B += 0.5 * sq[:, None]
    B *= K
    # C <- c (K N + N^T K) + C: B.T is the Fortran-ordered buffer of N^T
    return blas.dsyr2k(c, K.T, B.T, beta=1.0, c=C, lower=1, overwrite_c=1)


def regularised_system(X, *, alpha, kappa, kernel="rbf", gamma=None, K=None):
    """Lower triangle of ``A = K^2 + alpha K + kappa G``, the matrix ``GradRegKRR`` factorises.

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
        Training inputs.
    alpha : float
        Ridge strength.
    kappa : float
        Gradient-penalty strength.
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.
    K : ndarray of shape (n, n) or None, default=None
        Precomputed ``kernel_matrix(X)``; must be exactly symmetric.

    Returns
    -------
    A : ndarray of shape (n, n), Fortran order
        Only the lower triangle is set (the upper one is arbitrary): pass
        ``lower=True`` to :func:`scipy.linalg.cho_factor`.

    Notes
    -----
    Flops: ``n^3`` for ``K K`` (``dsyrk``), ``2 n^3`` for ``K N + N^T K``
    (``dsyr2k``; RBF only) and ``O(n^2 d)`` for the rest, against ``4 n^3``
    with two general products. Memory: the result and one scratch matrix
    besides ``K``.
    """
    _check_kernel(kernel)
    if K is None:
        K = kernel_matrix(X, kernel=kernel, gamma=gamma)
    return _gram_lower(
        X, K, kernel=kernel, gamma=gamma, kk_scale=1.0, alpha=float(alpha), kappa=float(kappa)
    )


def gradient_gram(X, *, kernel="rbf", gamma=None, K=None, KK=None):
    """Closed form of ``G = sum_m J_m^T J_m`` over the rows ``x_m`` of ``X``.

    Column ``i`` of the ``d x n`` matrix ``J_m`` is ``grad_x k(x_m, x_i)``, so that
    ``a^T G a = sum_m ||grad f(x_m)||^2`` for ``f = sum_i a_i k(., x_i)``.

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
        The points (both the kernel centres and the points where the
        gradient is penalised).
    kernel : {"rbf", "linear"}, default="rbf"
        The kernel.
    gamma : float or None, default=None
        RBF width; ``None`` means ``1 / n_features``.
    K : ndarray of shape (n, n) or None, default=None
        Precomputed ``kernel_matrix(X)``.
    KK : ndarray of shape (n, n) or None, default=None
        Precomputed ``K @ K`` (the RBF form needs it; pass it when you have it).

    Returns
    -------
    G : ndarray of shape (n, n)
        Symmetric positive semi-definite.

    Notes
    -----
    RBF: ``(2 gamma)^2 [K N + (K N)^T + (K K) o B]`` with ``B = X X^T`` and
    ``N = K o (diag(||x||^2) 1 1^T / 2 - B)``, which equals
    ``(2 gamma)^2 [K D K - K (K o B) - (K o B) K + (K K) o B]``. ``K K`` is one
    ``dsyrk`` and ``K N + N^T K`` one ``dsyr2k`` (``3 n^3`` flops in all); no
    ``n x n x d`` tensor. Linear: ``n K``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklpoison.numerics.kernels import gradient_gram, input_gradient
    >>> X = np.random.RandomState(0).randn(6, 2)
    >>> a = np.arange(6.0)
    >>> G = gradient_gram(X, gamma=0.5)
    >>> bool(np.isclose(a @ G @ a, np.sum(input_gradient(X, X, a, gamma=0.5) ** 2)))
    True
    """
    _check_kernel(kernel)
    n, d = X.shape
    if K is None:
        K = kernel_matrix(X, kernel=kernel, gamma=gamma)
    if kernel == "linear":
        return n * K
    C = _gram_lower(X, K, kernel=kernel, gamma=gamma, kk_scale=0.0, alpha=0.0, kappa=1.0, KK=KK)
    return _symmetrize_lower(C)
