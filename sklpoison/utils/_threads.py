"""Thread budgets for parallel sweeps: BLAS, OpenMP and torch pools sized to the fits running.

A sweep of ``n_jobs`` parallel fits whose BLAS (OpenBLAS, MKL), OpenMP and torch thread pools
each start one thread per core runs ``n_jobs x cores`` busy threads on ``cores`` cores; on a
machine shared with other work even ``n_jobs = 1`` competes. Measured on a loaded 2-core
machine: the default kernel-ridge sweep took 35-91 s with default threads and 8.6 s with one
BLAS thread; the CNN sweep 7 min 17 s and 44 s.
"""

import contextlib
import numbers
import os
import sys

__all__ = ["env_threads", "inner_threads", "limit_worker_threads", "thread_budget"]

# the environment variables that size thread pools, in the order they are honoured
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def env_threads():
    """``OMP_NUM_THREADS`` (else ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``), or ``None``."""
    for var in THREAD_VARS:
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def _effective_n_jobs(n_jobs):
    from joblib import effective_n_jobs

    return max(1, effective_n_jobs(n_jobs))


def inner_threads(n_jobs=None, threads=None):
    """Threads each of ``n_jobs`` parallel fits may use: ``max(1, threads // workers)``.

    ``threads=None`` takes ``OMP_NUM_THREADS`` (etc.) when set, and otherwise gives each fit
    one thread: a sweep is many independent fits, parallel over ``n_jobs``, and BLAS threads
    that spin waiting for a busy core cost far more than they save (measured on a loaded
    2-core machine: the default sweep took 64.5 s with two BLAS threads, 18.0 s with one).
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1
    ):
        raise ValueError(
            f"threads must be a whole number of CPU threads >= 1 (or None: $OMP_NUM_THREADS, "
            f"else one per fit); got {threads!r}."
        )
    workers = _effective_n_jobs(n_jobs)
    if threads is None:
        threads = env_threads() or workers
    return max(1, int(threads) // workers)


@contextlib.contextmanager
def thread_budget(n_jobs=None, threads=None):
    """Run parallel fits within ``threads`` CPU threads in all.

    Inside the block, each of the ``n_jobs`` fits gets ``max(1, threads // n_workers)``
    BLAS/OpenMP threads and as many torch intra-op threads: in this process (sequential and
    threading backends) through :func:`threadpoolctl.threadpool_limits` and
    :func:`torch.set_num_threads` (restored on exit), and in joblib's process workers (loky)
    through ``joblib.parallel_config(inner_max_num_threads=...)``. Results do not depend on
    the thread count beyond floating-point rounding.

    Parameters
    ----------
    n_jobs : int or None, default=None
        The ``n_jobs`` of the parallel fits (joblib's convention: ``-1`` all cores).
    threads : int or None, default=None
        Thread budget in all; ``None`` reads ``OMP_NUM_THREADS`` (then
        ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) and otherwise gives each fit one
        thread (see :func:`inner_threads`).

    Yields
    ------
    inner : int
        The threads per fit.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklpoison.model_selection import thread_budget
    >>> from sklpoison.datasets import load_digits_images
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, n_jobs=1)
    >>> with thread_budget(n_jobs=1, threads=1) as per_fit:
    ...     search = search.fit(X[:300], y[:300])
    >>> per_fit
    1
    """
    from joblib import parallel_config
    from joblib._parallel_backends import LokyBackend
    from joblib.parallel import get_active_backend
    from threadpoolctl import threadpool_limits

    inner = inner_threads(n_jobs, threads)
    backend, _ = get_active_backend()
    torch = sys.modules.get("torch")  # only when torch is in use (never imports it)
    saved_torch = torch.get_num_threads() if torch is not None else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=inner))
        if isinstance(backend, LokyBackend):  # process workers: their pools via their env
            stack.enter_context(parallel_config(backend="loky", inner_max_num_threads=inner))
        if torch is not None:
            torch.set_num_threads(inner)
            stack.callback(torch.set_num_threads, saved_torch)
        yield inner


def limit_worker_threads(threads=None):
    """Limit BLAS/OpenMP/torch threads in a Dask worker to its share of the worker's cores.

    Run on every worker with ``client.run(limit_worker_threads)``: a worker running
    ``nthreads`` tasks at once gives each ``max(1, threads // nthreads)`` threads, by default
    one (``OMP_NUM_THREADS`` in the worker's environment counts as its budget). Returns the
    threads per task.
    """
    from threadpoolctl import threadpool_limits

    try:
        from distributed import get_worker

        nthreads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):  # pragma: no cover - not in a worker
        nthreads = 1
    budget = (env_threads() or nthreads) if threads is None else int(threads)
    inner = max(1, budget // max(1, nthreads))
    threadpool_limits(limits=inner)  # process-wide, for the worker's lifetime
    os.environ.update({var: str(inner) for var in THREAD_VARS})  # for torch imported later
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(inner)
    return inner
