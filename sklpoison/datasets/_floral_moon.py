"""The two-moons data of the FLORAL paper, with its poisoned training sheets."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_SHEETS = (
    "main",
    "train",
    "validation",
    "test",
    "train_adv_5",
    "train_adv_10",
    "train_adv_15",
    "train_adv_20",
    "train_adv_25",
    "train_adv_5_lfa",
    "train_adv_10_lfa",
    "train_adv_25_lfa",
    "test_adv_5",
    "test_adv_10",
    "test_adv_25",
)


def load_floral_moon(sheet="train", *, return_X_y=False):
    """Load one sheet of the FLORAL paper's two-moons data (embedded, no download).

    The data set of Bal, Cevher and Muehlebach (ICLR 2025), exported from
    ``dataset/moon_dataset_seed42.xlsx`` of the authors' repository (melisilaydabal/floral,
    MIT licence, Copyright (c) 2025 Melis Ilayda Bal). Two standardised features, labels
    ±1.

    Parameters
    ----------
    sheet : str, default="train"
        - ``"main"``: all 2000 points;
        - ``"train"`` (500), ``"validation"`` (500), ``"test"`` (1000): the paper's split;
        - ``"train_adv_{5,10,15,20,25}"``: the 500 training points with 25, 50, 75, 100
          and 119 labels flipped by the paper's attack (nested);
        - ``"train_adv_{5,10,25}_lfa"``: 25, 50 and 125 labels flipped by the LFA attack;
        - ``"test_adv_{5,10,25}"``: test sheets shipped with the repository.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    data : Bunch or tuple
        Bunch with ``data`` (``(n, 2)`` float), ``target`` (``(n,)`` int in {-1, 1}),
        ``feature_names``, ``sheet`` and ``DESCR``; or ``(X, y)``.

    Examples
    --------
    >>> from sklpoison.datasets import load_floral_moon
    >>> X, y = load_floral_moon("train", return_X_y=True)
    >>> X.shape, sorted(set(y.tolist()))
    ((500, 2), [-1, 1])
    >>> _, y_adv = load_floral_moon("train_adv_10", return_X_y=True)
    >>> int((y_adv != y).sum())
    50
    """
    if sheet not in _SHEETS:
        raise ValueError(
            f"Unknown FLORAL Moon sheet {sheet!r}. Valid sheets are: {', '.join(_SHEETS)}."
        )
    root = resources.files("sklpoison.datasets") / "data" / "floral_moon"
    with (root / f"{sheet}.csv").open("r") as fh:
        table = np.loadtxt(fh, delimiter=",", skiprows=1)
    X = np.ascontiguousarray(table[:, :2])
    y = table[:, 2].astype(np.int64)
    if return_X_y:
        return X, y
    descr = (root / "README.md").read_text()
    return Bunch(
        data=X, target=y, feature_names=["feature_0", "feature_1"], sheet=sheet, DESCR=descr
    )
