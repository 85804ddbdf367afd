"""Optional dependencies: one import helper that names the extra to install.

The core install (``pip install sklpoison``) covers the samplers, the kernel defences, FLORAL's
default path, the certifier's interval and zonotope paths, plotting and the command line's
default sweep. Features that need more say so in one line where they are used::

    ImportError: GradRegNetClassifier needs PyTorch and skorch: pip install "sklpoison[torch]"
"""

import importlib
import os
import sys
import threading

__all__ = ["EXTRAS", "import_optional", "import_cvxpy"]

# extra -> (what it installs, in words; the modules it provides)
EXTRAS = {
    "torch": ("PyTorch and skorch", ("torch", "skorch")),
    "convex": ("cvxpy", ("cvxpy", "highspy", "clarabel")),
    "dask": ("dask.distributed", ("dask", "distributed")),
}


def import_optional(name, *, extra, feature):
    """Import module ``name``, or raise a one-line ``ImportError`` naming the extra.

    Parameters
    ----------
    name : str
        Module to import, e.g. ``"torch"``, ``"skorch"``, ``"cvxpy"``.
    extra : str
        The sklpoison extra that installs it (a key of :data:`EXTRAS`).
    feature : str
        What needs it, as the user wrote it (``"GradRegNetClassifier"``,
        ``"ALFALabelFlipper"``); starts the message.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        ``<feature> needs <what>: pip install "sklpoison[<extra>]"``.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        what = EXTRAS[extra][0]
        message = f'{feature} needs {what}: pip install "sklpoison[{extra}]"'
        raise ImportError(message, name=name) from exc


_highs_lock = threading.Lock()
_highs_banner_done = False


def _swallow_highs_banner():
    """Construct one ``highspy.Highs`` with file descriptor 1 on /dev/null.

    HiGHS writes its copyright banner from C++ to the process's standard output the first time
    a solver object is created, before cvxpy can pass ``log_to_console=False``; that banner
    then lands in the middle of tables and benchmark output. It is written once per process,
    so creating the first solver here, silenced, keeps every later solve quiet.
    """
    global _highs_banner_done
    with _highs_lock:
        if _highs_banner_done:
            return
        _highs_banner_done = True
        try:
            import highspy
        except ImportError:
            return
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            flush = libc.fflush
        except (OSError, AttributeError):  # pragma: no cover - no C runtime to flush (Windows)
            highspy.Highs()
            return
        sys.stdout.flush()
        flush(None)
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            highspy.Highs()
            flush(None)  # the banner goes out through C stdio: flush it while fd 1 is /dev/null
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)


def import_cvxpy(feature):
    """``cvxpy`` (extra ``convex``) with HiGHS's start-up banner silenced."""
    cp = import_optional("cvxpy", extra="convex", feature=feature)
    _swallow_highs_banner()
    return cp
