"""SpectrumDisplay: input-Hessian eigenvalues and eigenvectors beside the trigger."""

import numpy as np

from ..utils._images import to_imshow


class SpectrumDisplay:
    """Eigenvalues of the input Hessian and its eigenvectors, shown next to the trigger.

    The left panel shows the top eigenvalues of the mean input Hessian
    (a spike is the curvature signature of a clustered poison, Granziol et al.,
    2026). Then one panel per eigenvector: an image (symmetric colour scale,
    ``|cos|`` overlap with the pattern in the title) when the inputs are
    images, a stem plot otherwise. The last panel shows the pattern (e.g. the
    trigger mask) when one is given.

    Build it with :meth:`from_detector`; call :meth:`plot` to draw (done by
    ``from_detector``).

    Parameters
    ----------
    eigenvalues : ndarray of shape (k,)
        Decreasing eigenvalues.
    eigenvectors : ndarray of shape (k, ...)
        Eigenvectors, ``(k, C, H, W)`` for images or ``(k, d)``.
    pattern : ndarray or None, default=None
        A pattern of one sample's shape (e.g. the trigger mask).
    overlaps : ndarray of shape (k,) or None, default=None
        ``|cos|`` between each eigenvector and ``pattern``.

    Attributes
    ----------
    figure_ : matplotlib Figure
    ax_ : ndarray of matplotlib Axes
        ``ax_[0]`` the eigenvalues, ``ax_[1:k+1]`` the eigenvectors, then the
        pattern's axes when a pattern is given.

    See Also
    --------
    sklpoison.HessianSpectrumDetector : Computes the spectrum.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklpoison import HessianSpectrumDetector
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.plotting import SpectrumDisplay
    >>> X, y = load_digits_images(return_X_y=True, flat=True)
    >>> clf = LogisticRegression(max_iter=300).fit(X[:500], y[:500])
    >>> det = HessianSpectrumDetector(clf, n_components=3, image_shape=(8, 8),
    ...                               random_state=0).fit(X[500:700])
    >>> display = SpectrumDisplay.from_detector(det)
    >>> display.ax_.shape
    (4,)
    """

    def __init__(self, *, eigenvalues, eigenvectors, pattern=None, overlaps=None):
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.pattern = pattern
        self.overlaps = overlaps

    @classmethod
    def from_detector(cls, detector, pattern=None, *, n_eigenvectors=None, ax=None, cmap="RdBu_r"):
        """Build and plot the display from a fitted :class:`~sklpoison.HessianSpectrumDetector`.

        Parameters
        ----------
        detector : fitted HessianSpectrumDetector
        pattern : array-like or None, default=None
            One sample's worth of values to compare with (e.g.
            ``PoisonTransformer.trigger_mask_``).
        n_eigenvectors : int or None, default=None
            Number of eigenvectors shown (``None``: all).
        ax : array of Axes or None, default=None
            ``1 + n_eigenvectors (+ 1 with a pattern)`` axes; a new figure when ``None``.
        cmap : str, default="RdBu_r"
            Diverging colour map for the eigenvector images.

        Returns
        -------
        display : SpectrumDisplay
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(detector, "eigenvalues_")
        k = detector.eigenvalues_.shape[0] if n_eigenvectors is None else int(n_eigenvectors)
        if not 1 <= k <= detector.eigenvalues_.shape[0]:
            raise ValueError(
                f"n_eigenvectors must be in [1, {detector.eigenvalues_.shape[0]}]; got "
                f"{n_eigenvectors!r}."
            )
        overlaps = None
        if pattern is not None:
            overlaps = detector.overlap(pattern).overlaps
            pattern = np.asarray(pattern, dtype=float).reshape(detector.eigenvectors_.shape[1:])
        display = cls(
            eigenvalues=np.asarray(detector.eigenvalues_),
            eigenvectors=np.asarray(detector.eigenvectors_)[:k],
            pattern=pattern,
            overlaps=None if overlaps is None else overlaps[:k],
        )
        return display.plot(ax=ax, cmap=cmap)

    def plot(self, *, ax=None, cmap="RdBu_r"):
        """Draw the eigenvalues, the eigenvectors and the pattern.

        Parameters
        ----------
        ax : array of Axes or None, default=None
            ``1 + k (+ 1 with a pattern)`` axes; a new figure when ``None``.
        cmap : str, default="RdBu_r"
            Diverging colour map for the eigenvector images.

        Returns
        -------
        display : SpectrumDisplay
            ``self``, with ``figure_`` and ``ax_`` set.
        """
        import matplotlib.pyplot as plt

        vals = np.asarray(self.eigenvalues, dtype=float)
        vecs = np.asarray(self.eigenvectors, dtype=float)
        k = vecs.shape[0]
        n_panels = 1 + k + (self.pattern is not None)
        if ax is None:
            fig, ax = plt.subplots(1, n_panels, figsize=(2.2 * n_panels + 1.5, 2.6))
        ax = np.asarray(ax, dtype=object).ravel()
        if ax.size != n_panels:
            raise ValueError(f"ax must hold {n_panels} axes; got {ax.size}.")
        fig = ax[0].figure

        idx = np.arange(1, vals.size + 1)
        ax[0].plot(idx, vals, "o-", color="C0")
        ax[0].set_xticks(idx)
        ax[0].set_xlabel("index")
        ax[0].set_title("top eigenvalues")
        images = vecs.ndim >= 3
        for i in range(k):
            a = ax[1 + i]
            title = f"v{i + 1}"
            if self.overlaps is not None:
                title += f" |cos|={self.overlaps[i]:.2f}"
            if images:
                img = to_imshow(vecs[i])
                lim = float(np.max(np.abs(img))) or 1.0
                a.imshow(
                    img if img.ndim == 2 else img / (2 * lim) + 0.5, cmap=cmap, vmin=-lim, vmax=lim
                )
                a.set_xticks([])
                a.set_yticks([])
            else:
                a.stem(np.arange(vecs.shape[1]), vecs[i])
                a.set_xlabel("feature")
            a.set_title(title, fontsize=9)
        if self.pattern is not None:
            a = ax[-1]
            p = np.asarray(self.pattern, dtype=float)
            if images:
                a.imshow(to_imshow(p), cmap="gray")
                a.set_xticks([])
                a.set_yticks([])
            else:
                a.stem(np.arange(p.size), p.ravel())
            a.set_title("pattern", fontsize=9)
        self.figure_ = fig
        self.ax_ = ax
        return self
