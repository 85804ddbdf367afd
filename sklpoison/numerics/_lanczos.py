"""Input-space curvature: Hessian-vector products, Gauss-Newton products and Lanczos.

This module is the one numerical core behind sklpoison's curvature tools
(:class:`sklpoison.HessianSpectrumDetector`, :class:`sklpoison.plotting.SpectrumDisplay`,
the examples and benchmarks). It works with the *input* Hessian of the loss,

.. math::

    H_i = \\nabla^2_{x} \\ell(f(x_i), y_i) \\in \\mathbb{R}^{d \\times d},
    \\qquad \\bar H = \\frac{1}{N} \\sum_i H_i ,

and with its Gauss-Newton part :math:`G_i = J_i^\\top \\nabla^2_z \\ell\\, J_i` (``J_i`` the
Jacobian of the model output with respect to the input). Neither is ever materialised:
every model is wrapped in an *adapter* (:func:`make_input_hessian_adapter`) whose
``batch_operator(X, y)`` returns the map ``V -> [H_1 v_1, ..., H_n v_n]`` of per-sample
products on a batch, vectorised over the samples. Everything else is built on that
single primitive:

- :func:`mean_hvp` / :func:`mean_hessian_operator`: ``v -> H̄ v`` (a
  :class:`scipy.sparse.linalg.LinearOperator`), batched over the data;
- :func:`batched_lanczos`: Lanczos with full reorthogonalisation, for a fixed
  number of iterations, run simultaneously on many independent operators
  (one per sample) with numpy batched linear algebra;
- :func:`top_eigenpairs`: top-``k`` eigenpairs of ``H̄`` by Lanczos or by
  :func:`scipy.sparse.linalg.eigsh`;
- :func:`per_sample_top_eigenvalues`: top eigenvalue(s) of every ``H_i``, batched.

Adapters exist for torch modules and skorch nets (double backward through
autograd, one graph per batch reused by every Lanczos iteration), for
scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` (closed form,
:math:`\\nabla^2_x \\ell = W^\\top(\\operatorname{diag} p - p p^\\top) W`) and for
estimators exposing an analytic ``input_hessian`` (sklpoison's ``GradRegKRR`` and
``GradRegKRRClassifier``). torch is imported lazily, only when a torch model is used.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh
from sklearn.utils import check_random_state


# ------------------------------------------------------------------------ products
def _batches(n, batch_size):
    batch_size = n if batch_size is None else max(1, int(batch_size))
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def per_sample_hvp(adapter, X, y, V, *, batch_size=None):
    """Per-sample products ``[H_1 v_1, ..., H_n v_n]``, batched over samples.

    Parameters
    ----------
    adapter : object
        From :func:`make_input_hessian_adapter`.
    X : ndarray of shape (n, d)
        Flat inputs.
    y : array-like of shape (n,)
        Labels of the loss.
    V : ndarray of shape (n, d)
        One vector per sample.
    batch_size : int or None, default=None
        Samples per batch (``None``: all at once).

    Returns
    -------
    HV : ndarray of shape (n, d)
    """
    X = np.asarray(X)
    V = np.asarray(V, dtype=np.float64)
    out = np.empty((X.shape[0], adapter.n_features))
    for sl in _batches(X.shape[0], batch_size):
        out[sl] = adapter.batch_operator(X[sl], y[sl])(V[sl])
    return out


def mean_hvp(adapter, X, y, v, *, batch_size=None):
    """``H̄ v`` with ``H̄ = (1/N) Σ_i H_i``, never formed.

    ``v`` may be one vector ``(d,)`` or a block ``(d, k)``.
    """
    X = np.asarray(X)
    v = np.asarray(v, dtype=np.float64)
    block = v.reshape(adapter.n_features, -1)
    out = np.zeros_like(block)
    for sl in _batches(X.shape[0], batch_size):
        op = adapter.batch_operator(X[sl], y[sl])
        n_b = sl.stop - sl.start
        for j in range(block.shape[1]):
            out[:, j] += op(np.broadcast_to(block[:, j], (n_b, block.shape[0]))).sum(axis=0)
    out /= X.shape[0]
    return out.reshape(v.shape)


def mean_hessian_operator(adapter, X, y, *, batch_size=None, max_cached_batches=4):
    """``H̄`` as a symmetric :class:`scipy.sparse.linalg.LinearOperator` of shape ``(d, d)``.

    When the data span at most ``max_cached_batches`` batches, each batch's graph
    (torch) or per-sample matrices (analytic models) are prepared once and reused
    by every product; otherwise they are rebuilt batch by batch at every product,
    so memory stays that of one batch.
    """
    X = np.asarray(X)
    d = adapter.n_features
    n = X.shape[0]
    slices = _batches(n, batch_size)
    if len(slices) <= max_cached_batches:
        ops = [(adapter.batch_operator(X[sl], y[sl]), sl.stop - sl.start) for sl in slices]

        def batch_ops():
            return ops
    else:

        def batch_ops():
            for sl in slices:
                yield adapter.batch_operator(X[sl], y[sl]), sl.stop - sl.start

    def matvec(v):
        v = np.asarray(v, dtype=np.float64).reshape(d)
        acc = np.zeros(d)
        for op, n_b in batch_ops():
            acc += op(np.broadcast_to(v, (n_b, d))).sum(axis=0)
        return acc / n

    def matmat(Vb):
        return np.column_stack([matvec(Vb[:, j]) for j in range(Vb.shape[1])])

    return LinearOperator((d, d), matvec=matvec, rmatvec=matvec, matmat=matmat, dtype=np.float64)


# ------------------------------------------------------------------------- Lanczos
def batched_lanczos(
    matvec,
    n_operators,
    n_features,
    *,
    n_iter,
    n_eigen=1,
    random_state=None,
    return_eigenvectors=True,
    shared_start=True,
):
    """Lanczos with full reorthogonalisation on many symmetric operators at once.

    Runs ``m = min(n_iter, n_features)`` Lanczos steps simultaneously on
    ``n_operators`` independent symmetric operators (stacked: ``matvec`` maps an
    ``(n_operators, n_features)`` array, one vector per operator, to the stacked
    products). Every new Lanczos vector is orthogonalised twice against all previous
    ones (classical Gram-Schmidt, twice), so the Ritz values are those of an
    orthonormal Krylov basis. When an operator's Krylov space becomes invariant
    (``beta ≈ 0``, e.g. a rank-``r`` Hessian after ``r + 1`` steps) the iteration
    continues from a fresh vector orthogonal to the basis, with a zero coupling;
    with ``n_iter >= n_features`` the result is the exact spectrum.

    With ``shared_start=True`` every operator starts from the same random vector
    and uses the same restart vectors, so the result for one operator does not
    depend on the others in the batch (per-sample scores do not depend on how the
    samples are batched or ordered).

    Parameters
    ----------
    matvec : callable
        ``(B, d) -> (B, d)``, row ``b`` the product of operator ``b`` with row ``b``.
    n_operators : int
        ``B``.
    n_features : int
        ``d``.
    n_iter : int
        Number of Lanczos steps (the Krylov dimension).
    n_eigen : int, default=1
        Number of top (largest algebraic) Ritz pairs returned.
    random_state : int, RandomState or None, default=None
        Start and restart vectors (Gaussian). Fixes the result.
    return_eigenvectors : bool, default=True
        Also return the Ritz vectors.
    shared_start : bool, default=True
        One start vector for all operators (else one each).

    Returns
    -------
    eigenvalues : ndarray of shape (B, n_eigen)
        In decreasing order.
    eigenvectors : ndarray of shape (B, n_eigen, d)
        Unit Ritz vectors (only with ``return_eigenvectors=True``).
    """
    rng = check_random_state(random_state)
    B, d = int(n_operators), int(n_features)
    m = int(min(n_iter, d))
    if m < 1:
        raise ValueError(f"n_iter must be at least 1; got {n_iter}.")
    k = int(min(n_eigen, m))
    if shared_start:
        q = np.broadcast_to(rng.standard_normal(d), (B, d)).copy()
    else:
        q = rng.standard_normal((B, d))
    restarts = rng.standard_normal((m, d))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    Q = np.zeros((B, m, d))
    alpha = np.zeros((B, m))
    beta = np.zeros((B, max(m - 1, 0)))
    scale = np.zeros(B)
    for j in range(m):
        Q[:, j] = q
        w = np.asarray(matvec(q), dtype=np.float64).reshape(B, d)
        alpha[:, j] = np.einsum("bd,bd->b", w, q)
        scale = np.maximum(scale, np.linalg.norm(w, axis=1))
        basis = Q[:, : j + 1]
        for _ in range(2):  # full reorthogonalisation, twice
            w = w - np.einsum("bj,bjd->bd", np.einsum("bjd,bd->bj", basis, w), basis)
        if j == m - 1:
            break
        b = np.linalg.norm(w, axis=1)
        small = b <= 1e-10 * scale + np.finfo(float).tiny
        if np.any(small):  # invariant subspace: continue from a restart vector
            sub = basis[small]
            r = np.broadcast_to(restarts[j], (sub.shape[0], d)).copy()
            for _ in range(2):
                r = r - np.einsum("bj,bjd->bd", np.einsum("bjd,bd->bj", sub, r), sub)
            w[small] = r
            b = np.where(small, np.linalg.norm(w, axis=1), b)
        beta[:, j] = np.where(small, 0.0, b)
        q = w / b[:, None]
    T = np.zeros((B, m, m))
    idx = np.arange(m)
    T[:, idx, idx] = alpha
    if m > 1:
        T[:, idx[:-1], idx[1:]] = beta
        T[:, idx[1:], idx[:-1]] = beta
    evals, S = np.linalg.eigh(T)  # ascending
    evals = evals[:, ::-1][:, :k]
    if not return_eigenvectors:
        return evals
    S = S[:, :, ::-1][:, :, :k]
    vecs = np.einsum("bjd,bjk->bkd", Q, S)
    vecs /= np.linalg.norm(vecs, axis=2, keepdims=True)
    return evals, vecs


def top_eigenpairs(
    adapter,
    X,
    y,
    *,
    n_components=5,
    max_iter=10,
    solver="lanczos",
    batch_size=None,
    random_state=None,
    tol=0.0,
    verbose=0,
):
    """Top eigenpairs of the mean input Hessian ``H̄`` on ``(X, y)``.

    Parameters
    ----------
    adapter : object
        From :func:`make_input_hessian_adapter`.
    X : ndarray of shape (n, d)
    y : array-like of shape (n,)
    n_components : int, default=5
    max_iter : int, default=10
        Lanczos steps (``solver="lanczos"``) or the Lanczos basis size ``ncv``
        of ARPACK (``solver="eigsh"``, at least ``n_components + 1``).
    solver : {"lanczos", "eigsh"}, default="lanczos"
        Fixed-step Lanczos with full reorthogonalisation (the paper's procedure,
        deterministic for a given ``random_state``), or
        :func:`scipy.sparse.linalg.eigsh` (implicitly restarted, iterates to
        convergence ``tol``) on the operator.
    batch_size : int or None
    random_state : int, RandomState or None
    tol : float, default=0.0
        ARPACK tolerance (``solver="eigsh"``; 0 means machine precision).
    verbose : int, default=0
        Show a progress bar over the products with ``H̄`` (each is a pass over ``X``).

    Returns
    -------
    eigenvalues : ndarray of shape (n_components,)
        Decreasing (largest algebraic first).
    eigenvectors : ndarray of shape (n_components, d)
        Unit eigenvectors, sign fixed so that the largest-magnitude entry is positive.
    """
    op = mean_hessian_operator(adapter, X, y, batch_size=batch_size)
    d = adapter.n_features
    if n_components > d:
        raise ValueError(
            f"n_components={n_components} exceeds the input dimension n_features={d}: the "
            f"Hessian has only {d} eigenpairs."
        )
    k = int(n_components)
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(desc="Lanczos on the mean Hessian", unit="HVP")
        product = op.matvec

        def counted(v):
            bar.update(1)
            return product(v)

        op = LinearOperator(op.shape, matvec=counted, rmatvec=counted, dtype=np.float64)
    if solver == "lanczos":
        vals, vecs = batched_lanczos(
            lambda Q: op.matvec(Q[0])[None, :],
            1,
            d,
            n_iter=max(max_iter, k),
            n_eigen=k,
            random_state=random_state,
        )
        vals, vecs = vals[0], vecs[0]
    elif solver == "eigsh":
        rng = check_random_state(random_state)
        if k >= d:  # ARPACK needs k < d: fall back to the dense matrix (d is tiny here)
            M = op.matmat(np.eye(d))
            w, U = np.linalg.eigh((M + M.T) / 2)
            vals, vecs = w[::-1][:k], U[:, ::-1][:, :k].T
        else:
            ncv = int(min(d, max(max_iter, 2 * k + 1)))
            w, U = eigsh(op, k=k, which="LA", v0=rng.standard_normal(d), ncv=ncv, tol=tol)
            order = np.argsort(w)[::-1]
            vals, vecs = w[order], U[:, order].T
    else:
        raise ValueError(f"solver must be 'lanczos' or 'eigsh'; got {solver!r}.")
    if verbose:
        bar.close()
    vecs = _fix_signs(vecs)
    return np.asarray(vals, dtype=np.float64), vecs


def _fix_signs(vecs):
    vecs = np.array(vecs, dtype=np.float64)
    idx = np.argmax(np.abs(vecs), axis=-1)
    signs = np.sign(np.take_along_axis(vecs, idx[..., None], axis=-1))
    signs[signs == 0] = 1
    return vecs * signs


def per_sample_top_eigenvalues(
    adapter, X, y, *, n_eigen=1, max_iter=10, batch_size=None, random_state=None, verbose=0
):
    """Top eigenvalue(s) of every per-sample input Hessian ``H_i``, batched.

    One batched Lanczos run per batch of samples: every step is a single
    vectorised product over the whole batch (see :func:`batched_lanczos`).

    Returns
    -------
    eigenvalues : ndarray of shape (n,) or (n, n_eigen)
        ``(n,)`` when ``n_eigen == 1``.
    """
    X = np.asarray(X)
    n, d = X.shape[0], adapter.n_features
    out = np.empty((n, int(min(n_eigen, max_iter, d))))
    # one seed for every batch: each sample's Lanczos then depends on that sample only
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    batches = _batches(n, batch_size)
    if verbose:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="per-sample Lanczos", unit="batch")
    for sl in batches:
        op = adapter.batch_operator(X[sl], y[sl])
        out[sl] = batched_lanczos(
            op,
            sl.stop - sl.start,
            d,
            n_iter=max_iter,
            n_eigen=n_eigen,
            random_state=seed,
            return_eigenvectors=False,
        )
    return out[:, 0] if n_eigen == 1 else out
