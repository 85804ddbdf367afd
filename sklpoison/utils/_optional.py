"""Optional dependencies: one import helper that names the extra to install.

The core install (``pip install sklpoison``) covers the samplers, the kernel defences, FLORAL's
default path, the certifier's interval and zonotope paths, plotting and the command line's
default sweep. Features that need more say so in one line where they are used::

    ImportError: GradRegNetClassifier needs PyTorch and skorch: pip install "sklpoison[torch]"
"""

import importlib

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


def import_cvxpy(feature):
    """``cvxpy`` (extra ``convex``), or a one-line ``ImportError`` naming the extra."""
    return import_optional("cvxpy", extra="convex", feature=feature)
