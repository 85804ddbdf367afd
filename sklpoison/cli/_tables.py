"""Output of ``sklpoison sweep``: the trade-off table as text and ``cv_results_`` as CSV."""

import csv

import numpy as np

__all__ = ["cv_results_to_csv", "format_tradeoff_table"]


def format_tradeoff_table(table):
    """Render a :func:`~sklpoison.model_selection.tradeoff_table` as fixed-width text.

    One row per (θ, κ).

    Parameters
    ----------
    table : Bunch
        Output of :func:`sklpoison.model_selection.tradeoff_table`.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sklpoison.cli._tables import format_tradeoff_table
    >>> from sklpoison.model_selection import tradeoff_table
    >>> res = {"param_m__kappa": [0.0, 1.0], "param_p__poison_rate": [0.1, 0.1],
    ...        "mean_test_clean_accuracy": [0.95, 0.9], "mean_test_neg_asr": [-0.9, -0.2]}
    >>> print(format_tradeoff_table(tradeoff_table(res)))
    poison_rate       kappa    clean accuracy    attack success
    -----------------------------------------------------------
            0.1           0      0.950 ± 0.000      0.900 ± 0.000
            0.1           1      0.900 ± 0.000      0.200 ± 0.000
    """
    head = f"{'poison_rate':>11}  {'kappa':>10}  {'clean accuracy':>16}  {'attack success':>16}"
    lines = [head, "-" * len(head)]
    for t, k, a, sa, s, ss in zip(
        table.poison_rate,
        table.kappa,
        table.clean_accuracy,
        table.clean_accuracy_std,
        table.asr,
        table.asr_std,
        strict=True,
    ):
        lines.append(f"{t:>11.3g}  {k:>10.4g}  {a:>9.3f} ± {sa:.3f}  {s:>9.3f} ± {ss:.3f}")
    return "\n".join(lines)


def cv_results_to_csv(cv_results, path):
    """Write ``cv_results_`` to a CSV file (one row per candidate), without pandas.

    The ``params`` column (a dict per row) is skipped: the ``param_*`` columns
    hold the same information.

    Parameters
    ----------
    cv_results : dict
        ``GridSearchCV.cv_results_``.
    path : str or path-like
        Output file.

    Examples
    --------
    >>> import csv, os, tempfile
    >>> from sklpoison.cli._tables import cv_results_to_csv
    >>> res = {"param_m__kappa": [0.0, 1.0], "params": [{"m__kappa": 0.0}, {"m__kappa": 1.0}],
    ...        "mean_test_asr": [0.9, 0.2]}
    >>> path = os.path.join(tempfile.mkdtemp(), "cv_results.csv")
    >>> cv_results_to_csv(res, path)
    >>> with open(path) as f:
    ...     print(list(csv.reader(f)))
    [['param_m__kappa', 'mean_test_asr'], ['0.0', '0.9'], ['1.0', '0.2']]
    """
    keys = [k for k in cv_results if k != "params"]
    n = len(cv_results[keys[0]])

    def _cell(value):
        if value is np.ma.masked:
            return ""
        if isinstance(value, np.generic):
            return value.item()
        return value

    columns = {
        k: (np.ma.getdata(v) if np.ma.isMaskedArray(v) else v) for k, v in cv_results.items()
    }
    masks = {k: np.ma.getmaskarray(v) for k, v in cv_results.items() if np.ma.isMaskedArray(v)}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        for i in range(n):
            writer.writerow(
                ["" if (k in masks and masks[k][i]) else _cell(columns[k][i]) for k in keys]
            )
