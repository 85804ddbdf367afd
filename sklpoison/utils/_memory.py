"""A clear message when a fit that holds dense ``n x n`` matrices runs out of memory.

numpy raises :class:`MemoryError` when an allocation fails ("Unable to allocate 26.8 GiB
for an array with shape ..."). The kernel estimators (kernel ridge, the SVM duals) let it
raise and re-raise it with what the whole fit needs and what to do instead; they do not try
to predict the operating system's limits.
"""

from contextlib import contextmanager

__all__ = ["explain_memory_error", "format_bytes"]


def format_bytes(n_bytes):
    """``n_bytes`` in binary units, e.g. ``'1.5 GiB'``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


@contextmanager
def explain_memory_error(n_bytes, what, *, detail="", advice=""):
    """Re-raise a :class:`MemoryError` of the block with what ``what`` needs and advice.

    Parameters
    ----------
    n_bytes : int
        Bytes the operation holds at its peak.
    what : str
        Who needs it, e.g. ``"GradRegKRR cannot fit n_samples=15000"``.
    detail : str, default=""
        How ``n_bytes`` was counted, appended in parentheses.
    advice : str, default=""
        What to do instead (appended as its own sentence).
    """
    try:
        yield
    except MemoryError as exc:
        detail = f" ({detail})" if detail else ""
        message = (
            f"{what}: it needs about {int(n_bytes)} bytes ({format_bytes(n_bytes)}){detail}, "
            f"more than this process could allocate ({exc or 'MemoryError'})."
        )
        if advice:
            message += " " + advice
        raise MemoryError(message) from exc
