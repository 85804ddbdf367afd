"""Warnings of sklpoison, as :mod:`sklearn.exceptions` holds scikit-learn's.

Filter them like scikit-learn's own::

    import warnings
    from sklpoison.exceptions import VacuousCertificateWarning

    warnings.simplefilter("error", VacuousCertificateWarning)
"""

__all__ = ["VacuousCertificateWarning"]


class VacuousCertificateWarning(UserWarning):
    """A certificate that certifies nothing: no prediction is certified, or the bounds diverged.

    Raised (as a warning) by the certifiers of :mod:`sklpoison.certification` when
    the poisoning budget is too large for the training run to be bounded usefully,
    like :class:`sklearn.exceptions.ConvergenceWarning` for an optimiser that did not
    converge. The message names what to try: a smaller budget, fewer epochs or a
    smaller learning rate, tighter bounds, or a defence certified by construction.

    Examples
    --------
    >>> import warnings
    >>> from sklpoison.exceptions import VacuousCertificateWarning
    >>> issubclass(VacuousCertificateWarning, UserWarning)
    True
    """
