"""TriggerDisplay: the trigger and a few inputs before and after it is stamped."""

import numpy as np

from ..utils._images import to_imshow


class TriggerDisplay:
    """Show a backdoor trigger and examples of clean and triggered inputs.

    Build it with :meth:`from_poisoner`; call :meth:`plot` to draw (done by
    ``from_poisoner``).

    Parameters
    ----------
    trigger_pattern : ndarray of shape (C, H, W)
        The pattern written by the trigger.
    trigger_mask : ndarray of shape (C, H, W)
        Where the trigger writes (1) and where it leaves the input (0).
    clean_images : ndarray of shape (k, C, H, W) or None, default=None
        Example inputs.
    triggered_images : ndarray of shape (k, C, H, W) or None, default=None
        The same inputs with the trigger stamped.

    Attributes
    ----------
    figure_ : matplotlib Figure
    ax_ : ndarray of matplotlib Axes
        Axes of the grid: first column the trigger, then one column per example
        (clean on top, triggered below).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklpoison import PoisonTransformer
    >>> from sklpoison.datasets import load_digits_images
    >>> from sklpoison.plotting import TriggerDisplay
    >>> X, y = load_digits_images(return_X_y=True)
    >>> poisoner = PoisonTransformer(poison_rate=0.1, target_class=0).fit(X, y)
    >>> display = TriggerDisplay.from_poisoner(poisoner, X[:3])
    >>> display.ax_.shape
    (2, 4)
    """

    def __init__(self, *, trigger_pattern, trigger_mask, clean_images=None, triggered_images=None):
        self.trigger_pattern = trigger_pattern
        self.trigger_mask = trigger_mask
        self.clean_images = clean_images
        self.triggered_images = triggered_images

    @classmethod
    def from_poisoner(cls, poisoner, X=None, *, n_examples=3, ax=None, cmap="gray"):
        """Build and plot the display from a fitted image PoisonTransformer.

        Parameters
        ----------
        poisoner : fitted PoisonTransformer
            With an image layout and an L or ``(pattern, mask)`` trigger.
        X : array-like or None, default=None
            Inputs in the poisoner's layout; the first ``n_examples`` are shown.
        n_examples : int, default=3
            Number of example inputs.
        ax : array of 2 x (n_examples + 1) Axes or None, default=None
            Where to draw; a new figure when ``None``.
        cmap : str, default="gray"
            Colour map for single-channel images.

        Returns
        -------
        display : TriggerDisplay
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(poisoner, "input_shape_")
        chw = poisoner.image_shape_
        if chw is None or poisoner.trigger_mask_ is None:
            raise ValueError(
                "TriggerDisplay needs a poisoner fitted on images (X of shape (n, H, W), "
                "(n, C, H, W), or flat with image_shape) and an 'L' or (pattern, mask) trigger."
            )
        clean = triggered = None
        if X is not None:
            X = np.asarray(X)[:n_examples]
            triggered = poisoner.apply_trigger(X).reshape(-1, *chw)
            clean = X.reshape(-1, *chw)
        display = cls(
            trigger_pattern=poisoner.trigger_pattern_,
            trigger_mask=poisoner.trigger_mask_,
            clean_images=clean,
            triggered_images=triggered,
        )
        return display.plot(ax=ax, cmap=cmap)

    def plot(self, ax=None, *, cmap="gray"):
        """Draw the trigger (mask x pattern) and the examples.

        Parameters
        ----------
        ax : array of 2 x (k + 1) matplotlib Axes or None, default=None
            Where to draw; a new figure when ``None``.
        cmap : str, default="gray"
            Colour map for single-channel images.

        Returns
        -------
        display : TriggerDisplay
            ``self``, with ``figure_`` and ``ax_`` set.
        """
        import matplotlib.pyplot as plt

        k = 0 if self.clean_images is None else len(self.clean_images)
        if ax is None:
            fig, ax = plt.subplots(2, k + 1, figsize=(1.6 * (k + 1), 3.4), squeeze=False)
        else:
            ax = np.asarray(ax).reshape(2, k + 1)
            fig = ax.flat[0].figure
        trigger = np.asarray(self.trigger_pattern) * np.asarray(self.trigger_mask)
        ax[0, 0].imshow(to_imshow(trigger), cmap=cmap)
        ax[0, 0].set_title("trigger")
        ax[1, 0].imshow(to_imshow(self.trigger_mask), cmap="gray", vmin=0, vmax=1)
        ax[1, 0].set_title("mask")
        for j in range(k):
            ax[0, j + 1].imshow(to_imshow(self.clean_images[j]), cmap=cmap)
            ax[0, j + 1].set_title("clean")
            ax[1, j + 1].imshow(to_imshow(self.triggered_images[j]), cmap=cmap)
            ax[1, j + 1].set_title("triggered")
        for a in ax.flat:
            a.set_xticks([])
            a.set_yticks([])
        self.figure_, self.ax_ = fig, ax
        return self
