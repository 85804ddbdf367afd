"""Benchmark: PartitionAggregationClassifier on digits, certified accuracy and fit time.

The setting of the partition-aggregation papers' small-data analogue: ``load_digits``, X / 16,
``train_test_split(test_size=450, stratify=y, random_state=s)``, base
``LogisticRegression(C=10, max_iter=500)``, ``n_partitions=50``.

1. Fit time (split 0), best of ``--repeat`` interleaved runs, one BLAS thread per fit:
   one base fit on all 1,347 rows; a hand-written DPA loop (``clone(est).fit`` over the same
   content-hashed partitions, no hashing, no parallel machinery); the ensemble's ``fit``
   with ``n_jobs=1`` (hashing, layout, ``thread_budget`` and joblib included) and with
   ``n_jobs=2`` (loky processes, warm: the first call, which starts the workers, is timed
   separately).
2. Certified accuracy at k = 0, 1, 2, 5, 10, 20 poisoned rows (insertions, removals or
   label flips) for DPA, Finite Aggregation and Run-off Election, mean over the splits.

Measured on the shared 2-core machine (load 5-8 from other jobs; timings +-30 %, ratios
within one run only), ``--repeat 3``:

- fit time, load about 9: one fit on all rows 0.40 s; hand-written DPA loop 6.31 s (1.00x);
  ensemble ``n_jobs=1`` 6.81 s (1.08x); ensemble ``n_jobs=2`` 5.41 s (0.86x) warm, 23.8 s
  (3.78x) on the first call, which starts the two loky workers on the loaded machine. A
  second run at load 14 (no core free): 0.36 s; 3.91 s (1.00x); 3.62 s (0.93x); ``n_jobs=2``
  4.53 s (1.16x) warm, 27.4 s cold. Two processes only pay off with a second core free.
- certified accuracy at k = 0, 1, 2, 5, 10, 20, mean over splits 0, 1, 2 (fit time):

  ============  =====  =====  =====  =====  =====  =====  ======
  aggregation   k=0    1      2      5      10     20     fit
  ============  =====  =====  =====  =====  =====  =====  ======
  DPA           0.931  0.919  0.904  0.856  0.721  0.135  3.7 s
  FA d=4        0.930  0.916  0.904  0.853  0.733  0.193  18 s
  FA d=16       0.931  0.918  0.904  0.859  0.727  0.156  78 s
  ROE (DPA)     0.925  0.906  0.893  0.839  0.699  0.086  2.3 s
  ROE (FA d=4)  0.920  0.909  0.896  0.850  0.730  0.154  26 s
  ============  =====  =====  =====  =====  =====  =====  ======

  k = 10 / 20 per split: DPA 0.707/0.158, 0.749/0.096, 0.709/0.151; FA d=4 0.747/0.209,
  0.742/0.189, 0.711/0.180. FA's gain at k = 20 holds on every split, at k = 10 on two of
  three (split 1: -0.007). ROE certifies less than DPA on its layout.

Run::

    python benchmarks/bench_partition.py                 # splits 0, 1, 2
    python benchmarks/bench_partition.py --quick         # split 0, no d = 16
"""

import argparse
import time

import numpy as np
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from sklpoison import PartitionAggregationClassifier
from sklpoison.certification._partition import _model_rows, _shifts, row_digests

KS = np.array([0, 1, 2, 5, 10, 20])
BASE = LogisticRegression(C=10, max_iter=500)


def split(s):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=450, stratify=y, random_state=s)


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def timing(repeat):
    Xtr, _, ytr, _ = split(0)
    y_index = np.unique(ytr, return_inverse=True)[1]
    groups, _ = _model_rows(row_digests(Xtr), y_index, 50, _shifts(50, 1))

    def loop():
        return [clone(BASE).fit(Xtr[g], ytr[g]) for g in groups]

    ens1 = PartitionAggregationClassifier(BASE, n_partitions=50, n_jobs=1, threads=1)
    ens2 = clone(ens1).set_params(n_jobs=2, threads=2)
    with parallel_config(backend="loky"):
        t = time.perf_counter()
        clone(ens2).fit(Xtr, ytr)
        cold = time.perf_counter() - t
        rows = {"one fit on all rows": [], "hand-written DPA loop": [], "ensemble n_jobs=1": []}
        rows["ensemble n_jobs=2"] = []
        for _ in range(repeat):  # interleaved, so load changes hit every row alike
            with threadpool_limits(1):
                rows["one fit on all rows"].append(_best(lambda: clone(BASE).fit(Xtr, ytr), 1))
                rows["hand-written DPA loop"].append(_best(loop, 1))
            rows["ensemble n_jobs=1"].append(_best(lambda: clone(ens1).fit(Xtr, ytr), 1))
            rows["ensemble n_jobs=2"].append(_best(lambda: clone(ens2).fit(Xtr, ytr), 1))
    loop_t = min(rows["hand-written DPA loop"])
    print(f"fit time, split 0, best of {repeat} (ratio to the hand-written loop)")
    for name, ts in rows.items():
        print(f"  {name:24s} {min(ts):7.3f} s   {min(ts) / loop_t:5.2f}x")
    print(f"  {'ensemble n_jobs=2, cold':24s} {cold:7.3f} s   {cold / loop_t:5.2f}x")


def curves(splits, configs):
    print(f"\ncertified accuracy at k = {KS.tolist()}, mean over splits {splits}")
    for name, params in configs:
        worst, fit_t = [], []
        for s in splits:
            Xtr, Xte, ytr, yte = split(s)
            est = PartitionAggregationClassifier(BASE, n_partitions=50, threads=1, **params)
            t = time.perf_counter()
            est.fit(Xtr, ytr)
            fit_t.append(time.perf_counter() - t)
            worst.append(est.certified_accuracy(Xte, yte, KS)[0])
        worst = np.array(worst)
        per = "  ".join(f"{w[KS == 10][0]:.3f}/{w[KS == 20][0]:.3f}" for w in worst)
        mean = np.array2string(worst.mean(0), precision=3)
        print(f"  {name:16s} {mean}  fit {np.mean(fit_t):5.1f} s  (k=10/20 per split: {per})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    if not args.no_timing:
        timing(args.repeat)
    configs = [
        ("DPA", {}),
        ("FA d=4", {"aggregation": "finite", "spread": 4}),
        ("ROE (DPA)", {"aggregation": "runoff"}),
    ]
    if not args.quick:
        configs += [
            ("FA d=16", {"aggregation": "finite", "spread": 16}),
            ("ROE (FA d=4)", {"aggregation": "runoff", "spread": 4}),
        ]
    curves([0] if args.quick else [0, 1, 2], configs)


if __name__ == "__main__":
    main()
