"""Progress of long fits: a tqdm bar over the steps, or one line per stage, at ``verbose >= 1``.

Every long-running estimator (the label-flip attacks, FLORAL, Gradient Canceling, the
certifier's bounded training) reports through these two helpers, so that progress
looks the same everywhere, goes to ``stderr`` (``stdout`` stays the program's output),
and costs nothing at ``verbose=0``::

    from sklpoison.utils._progress import progress, stage

    for t in progress(range(n_rounds), verbose, desc="FLORAL rounds", unit="round"):
        ...
    stage(verbose, "LabelFlipper(strategy='floral')", "fitting the clean SVM (n=500, d=64)")

They are plain functions of ``verbose`` (not of an estimator), so an estimator split
into several classes keeps its progress by calling them from any of them.
"""

import sys
import time

__all__ = ["progress", "stage"]


def progress(iterable, verbose, *, desc, unit="it", total=None, postfix=None):
    """``iterable``, wrapped in a tqdm progress bar on ``stderr`` when ``verbose > 0``.

    Parameters
    ----------
    iterable : iterable
        The steps.
    verbose : int or bool
        The estimator's ``verbose``; ``0`` / ``False`` returns ``iterable`` itself.
    desc : str
        What the steps are (``"LFA flips"``), shown before the bar.
    unit : str, default="it"
        The unit of a step (``"flip"``, ``"epoch"``).
    total : int or None, default=None
        The number of steps when ``iterable`` has no ``len``.
    postfix : dict or None, default=None
        Initial values shown after the bar (update them with ``bar.set_postfix``).

    Returns
    -------
    steps : iterable
        A ``tqdm`` bar (it has ``set_postfix``) or ``iterable`` unchanged.
    """
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    bar = tqdm(iterable, desc=desc, unit=unit, total=total, file=sys.stderr, dynamic_ncols=True)
    if postfix:
        bar.set_postfix(postfix)
    return bar


def stage(verbose, who, message, *, start=None):
    """Print one line ``"[who] message"`` on ``stderr`` when ``verbose > 0``.

    Parameters
    ----------
    verbose : int or bool
        The estimator's ``verbose``.
    who : str
        The estimator (``"FloralSVC"``).
    message : str
        The stage, e.g. ``"fitting the clean SVM (n=500, d=64)"``.
    start : float or None, default=None
        A :func:`time.perf_counter` value: the line then ends with the seconds since.

    Returns
    -------
    now : float
        :func:`time.perf_counter` at the call, to pass as the next ``start``.
    """
    now = time.perf_counter()
    if verbose:
        elapsed = "" if start is None else f" ({now - start:.1f} s)"
        print(f"[{who}] {message}{elapsed}", file=sys.stderr, flush=True)
    return now
