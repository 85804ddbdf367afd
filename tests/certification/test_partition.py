"""Tests of PartitionAggregationClassifier: brute-force radii, replayed attacks, layout, API."""

import contextlib
import hashlib
import itertools
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier

from sklpoison import PartitionAggregationClassifier
from sklpoison.certification import _partition
from sklpoison.certification._partition import row_digests

AGGREGATIONS = [("dpa", 1), ("finite", 2), ("runoff", 1), ("runoff", 2)]


@pytest.fixture
def no_thread_budget(monkeypatch):
    """The brute-force tests refit thousands of times: skip threadpoolctl's library scan."""
    monkeypatch.setattr(_partition, "thread_budget", lambda **_: contextlib.nullcontext())


def _digits(n_train=400, n_test=40):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:n_train], y[:n_train], X[n_train : n_train + n_test], y[n_train : n_train + n_test]


def _bucket(X, n_buckets):
    return (row_digests(np.atleast_2d(X))[:, 0] % np.uint64(n_buckets)).astype(int)


def _in_bucket(x, bucket, n_buckets, scale=1e-9, start=0):
    """A copy of ``x`` moved by a few ``scale`` on feature 0 whose hash lands in ``bucket``."""
    for a in range(start, start + 100_000, 500):
        cand = np.repeat(x[None, :], 500, axis=0)
        cand[:, 0] += scale * np.arange(a, a + 500)
        hit = np.flatnonzero(_bucket(cand, n_buckets) == bucket)
        if hit.size:
            return cand[hit[0]]
    raise AssertionError("no row found for the bucket")  # pragma: no cover


# ----------------------------------------------------------------------------- hashing
def test_row_digest_normalisation():
    rng = np.random.RandomState(0)
    X = rng.rand(20, 7)
    ref = [hashlib.sha256(row.astype("<f8").tobytes()).digest() for row in X]
    words = row_digests(X)
    assert_array_equal(words, np.frombuffer(b"".join(ref), dtype=">u8").reshape(20, 4))
    X32 = X.astype(np.float32)
    assert_array_equal(row_digests(X32), row_digests(X32.astype(np.float64)))
    assert_array_equal(row_digests(np.asfortranarray(X)), words)
    assert_array_equal(row_digests(-np.zeros((1, 3))), row_digests(np.zeros((1, 3))))
    assert_array_equal(
        row_digests(np.arange(6).reshape(2, 3)), row_digests(np.arange(6.0).reshape(2, 3))
    )
    assert len({tuple(w) for w in words}) == 20
    # byte order of the input, and the host's, never changes a digest
    assert_array_equal(row_digests(X.astype(">f8")), words)
    assert_array_equal(row_digests(X.astype(">f4")), row_digests(X32))


def test_layout_places_rows_by_content():
    X, y, _, _ = _digits(300)
    for agg, spread in [("dpa", 1), ("finite", 3)]:
        clf = PartitionAggregationClassifier(
            DummyClassifier(), n_partitions=10, aggregation=agg, spread=spread
        ).fit(X, y)
        B = 10 * spread
        assert len(clf.estimators_) == B and len(clf.shifts_) == spread
        assert len(set(clf.shifts_.tolist())) == spread
        bucket = _bucket(X, B)
        expected = np.zeros(B, dtype=int)
        for s in clf.shifts_:  # bucket h feeds models (h + s) % B
            np.add.at(expected, (bucket + s) % B, 1)
        assert_array_equal(clf.partition_sizes_, expected)
        assert clf.partition_sizes_.sum() == spread * len(y)
        # only the models are kept: no fitted attribute holds the training rows
        kept = [v for v in vars(clf).values() if isinstance(v, np.ndarray)]
        assert all(v.shape[0] != len(y) for v in kept)


def test_finite_with_spread_one_is_dpa():
    X, y, Xt, _ = _digits(300, 60)
    base = LogisticRegression(max_iter=300)
    dpa = PartitionAggregationClassifier(base, n_partitions=12).fit(X, y)
    fa = PartitionAggregationClassifier(base, n_partitions=12, aggregation="finite", spread=1)
    fa.fit(X, y)
    assert_array_equal(dpa.predict(Xt), fa.predict(Xt))
    assert_array_equal(dpa.certified_radius(Xt), fa.certified_radius(Xt))
    assert dpa.certified_radius(Xt).max() > 0


def test_row_order_and_dtype_do_not_matter():
    X, y, Xt, _ = _digits(300, 60)
    perm = np.random.RandomState(1).permutation(len(y))
    for agg, spread in [("dpa", 1), ("runoff", 2)]:
        est = PartitionAggregationClassifier(
            LogisticRegression(max_iter=300), n_partitions=8, aggregation=agg, spread=spread
        )
        a = clone(est).fit(X, y)
        b = clone(est).fit(X[perm].astype(np.float32), y[perm])
        assert_array_equal(a.partition_sizes_, b.partition_sizes_)
        for ma, mb in zip(a.estimators_, b.estimators_):
            assert_array_equal(ma.coef_, mb.coef_)  # the same rows in the same order
        assert_array_equal(a.predict(Xt), b.predict(Xt))
        assert_array_equal(a.certified_radius(Xt), b.certified_radius(Xt))


# ------------------------------------------------------------------ brute-force radii
def _tiny_problem(n_buckets, labels, seed):
    """One training row per bucket (1-D features), and test points among them."""
    rng = np.random.RandomState(seed)
    X = np.array(
        [_in_bucket(np.array([rng.rand()]), b, n_buckets, scale=1e-3) for b in range(n_buckets)]
    )
    return X, np.asarray(labels), np.sort(rng.rand(3))[:, None]


def _attacked(X, y, combo, spots):
    keep = np.ones(len(y), dtype=bool)
    y_att = y.copy()
    for op in combo:
        if op[0] == "del":
            keep[op[1]] = False
        elif op[0] == "flip":
            y_att[op[1]] = op[2]
    new = [op for op in combo if op[0] == "ins"]
    X_att = np.vstack([X[keep]] + [spots[op[1]][None, :] for op in new])
    return X_att, np.concatenate([y_att[keep], [op[2] for op in new]]).astype(int)


def _min_change(est, X, y, x, n_classes, n_buckets, max_size):
    """Smallest attack (insertions, removals, label flips) that changes the prediction at x.

    Insertion candidates: one row per bucket at ``x`` (1-NN's most harmful spot), with
    every label. ``max_size + 1`` when nothing of size <= max_size changes it.
    """
    base = clone(est).fit(X, y).predict(x[None])[0]
    spots = [_in_bucket(x, b, n_buckets, start=10_000 * b) for b in range(n_buckets)]
    ops = [("del", i) for i in range(len(y))]
    ops += [("flip", i, c) for i in range(len(y)) for c in range(n_classes) if c != y[i]]
    ops += [("ins", j, c) for j in range(len(spots)) for c in range(n_classes)]
    for size in range(1, max_size + 1):
        for combo in itertools.combinations(ops, size):
            rows = [op[1] for op in combo if op[0] != "ins"]
            if len(set(rows)) < len(rows):
                continue
            X_att, y_att = _attacked(X, y, combo, spots)
            if len(y_att) < est.n_partitions:  # fit refuses fewer rows than partitions
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # empty partitions after removals
                if clone(est).fit(X_att, y_att).predict(x[None])[0] != base:
                    return size
    return max_size + 1


@pytest.mark.parametrize("labels", [[0, 0, 0, 1], [0, 0, 1, 2]])
@pytest.mark.parametrize("aggregation, spread", AGGREGATIONS)
def test_radius_against_brute_force(aggregation, spread, labels, no_thread_budget):
    X, y, X_test = _tiny_problem(4, labels, seed=5)
    est = PartitionAggregationClassifier(
        KNeighborsClassifier(n_neighbors=1),
        n_partitions=4 // spread,
        aggregation=aggregation,
        spread=spread,
    )
    radius = clone(est).fit(X, y).certified_radius(X_test[:2])
    if labels == [0, 0, 0, 1]:
        assert radius.max() >= 1  # not only the trivial radius 0
    for x, r in zip(X_test, radius):
        found = _min_change(est, X, y, x, 3, 4, max_size=min(r + 1, 2))
        assert found > r  # sound: nothing of size <= r changes the prediction
        if aggregation == "dpa":  # one row per partition: every vote is one change away
            assert found == r + 1


def test_dpa_radius_two_against_brute_force(no_thread_budget):
    # five one-row partitions of class 0, and a far row of class 1 in partition 0: all five
    # vote 0 near x, radius (5 - 0 - 0) // 2 = 2
    X, _, X_test = _tiny_problem(5, [0] * 5, seed=0)
    X = np.vstack([X, _in_bucket(np.array([7.0]), int(_bucket(X[:1], 5)[0]), 5)])
    y = np.array([0, 0, 0, 0, 0, 1])
    est = PartitionAggregationClassifier(KNeighborsClassifier(n_neighbors=1), n_partitions=5)
    x = X_test[0]
    assert clone(est).fit(X, y).certified_radius(x[None])[0] == 2
    assert _min_change(est, X, y, x, 2, 5, max_size=2) == 3
    # and three label flips do it
    flips = [("flip", i, 1) for i in range(3)]
    assert clone(est).fit(*_attacked(X, y, flips, [])).predict(x[None])[0] == 1


def test_runoff_dp_closed_form():
    # two gaps closed by votes that move (2, 1) or (1, 2): Rezaei et al.'s table, here as
    # max(ceil(g1 / 2), ceil(g2 / 2), ceil((g1 + g2) / 3)) through the bucket greedy
    table = np.zeros((30, 30), dtype=int)
    for i, j in itertools.product(range(30), range(30)):
        if i + j == 0:
            continue
        prev = [table[max(i - a, 0), max(j - b, 0)] for a, b in [(2, 1), (1, 2)]]
        table[i, j] = 1 + min(prev)
    g1, g2 = np.meshgrid(np.arange(30), np.arange(30), indexing="ij")
    pw = np.full((30, 30, 100), 3)  # a model voting pred switched to c1 / c2: 3 in all
    got = np.maximum(
        np.maximum(_partition._needed(g1, pw - 1), _partition._needed(g2, pw - 1)),
        _partition._needed(g1 + g2, pw),
    )
    assert_array_equal(got, table)


# ------------------------------------------------------------------ replayed attacks
def _insert_attack(X, y, x, buckets, label, n_buckets):
    new = np.array([_in_bucket(x, b, n_buckets, start=1000 * i) for i, b in enumerate(buckets)])
    return np.vstack([X, new.reshape(-1, X.shape[1])]), np.append(y, [label] * len(buckets))


def test_replayed_dpa_attacks_are_tight_at_scale():
    X, y, Xt, _ = _digits(400, 8)
    K = 16
    est = PartitionAggregationClassifier(KNeighborsClassifier(n_neighbors=1), n_partitions=K)
    clf = clone(est).fit(X, y)
    votes, _, counts = clf._tally(Xt)
    pred, radius = clf._certify(Xt)
    assert radius.max() >= 5
    for i, x in enumerate(Xt):
        rival = counts[i] + (np.arange(10) < pred[i])
        rival[pred[i]] = -1
        c = int(np.argmax(rival))
        voting = np.flatnonzero(votes[i] == pred[i])  # partitions voting for the prediction
        r = int(radius[i])
        # insert r near-copies of x labelled c into partitions voting pred: 1-NN follows them
        X_att, y_att = _insert_attack(X, y, x, voting[:r], c, K)
        assert clone(est).fit(X_att, y_att).predict(x[None])[0] == pred[i]
        X_att, y_att = _insert_attack(X, y, x, voting[: r + 1], c, K)
        assert clone(est).fit(X_att, y_att).predict(x[None])[0] != pred[i]
        # the same with label flips of each partition's nearest row to x
        bucket = _bucket(X, K)
        y_flip = y.copy()
        for j, p in enumerate(voting[: r + 1]):
            rows = np.flatnonzero(bucket == p)
            y_flip[rows[np.argmin(np.linalg.norm(X[rows] - x, axis=1))]] = c
            if j == r - 1:
                assert clone(est).fit(X, y_flip).predict(x[None])[0] == pred[i]
        assert clone(est).fit(X, y_flip).predict(x[None])[0] != pred[i]


@pytest.mark.parametrize("aggregation, spread", [("finite", 4), ("runoff", 1), ("runoff", 3)])
def test_replayed_greedy_attacks_never_beat_the_radius(aggregation, spread):
    X, y, Xt, _ = _digits(300, 3)
    K = 10
    B = K * spread
    est = PartitionAggregationClassifier(
        KNeighborsClassifier(n_neighbors=1), n_partitions=K, aggregation=aggregation, spread=spread
    )
    clf = clone(est).fit(X, y)
    votes, ranks, counts = clf._tally(Xt)
    pred, radius = clf._certify(Xt)
    mob = (np.arange(B)[:, None] + clf.shifts_[None, :]) % B
    bucket = _bucket(X, B)
    for i, x in enumerate(Xt):
        # the rival with most votes, and the most harmful buckets against it: those feeding
        # most models voting pred and fewest voting c
        c = next(int(c) for c in np.argsort(-counts[i], kind="stable") if c != pred[i])
        harm = (votes[i][mob] == pred[i]).sum(axis=1) - (votes[i][mob] == c).sum(axis=1)
        worst = np.argsort(-harm, kind="stable")[: radius[i]]
        nearest = [  # each bucket's row nearest to x (1-NN's vote there)
            (rows := np.flatnonzero(bucket == b))[np.argmin(np.linalg.norm(X[rows] - x, axis=1))]
            for b in worst
            if np.any(bucket == b)
        ]
        # r insertions labelled c
        X_att, y_att = _insert_attack(X, y, x, worst, c, B)
        assert clone(est).fit(X_att, y_att).predict(x[None])[0] == pred[i]
        # r label flips to c
        y_flip = y.copy()
        y_flip[nearest] = c
        assert clone(est).fit(X, y_flip).predict(x[None])[0] == pred[i]
        # r // 2 moved rows (2 each): a bucket's nearest row to x moved next to x, into
        # another harmful bucket, relabelled c
        moves = len(worst) // 2
        X_mv, y_mv = X.copy(), y.copy()
        for j in range(min(moves, len(nearest))):
            X_mv[nearest[j]] = _in_bucket(x, worst[moves + j], B, start=1000 * j)
            y_mv[nearest[j]] = c
        assert clone(est).fit(X_mv, y_mv).predict(x[None])[0] == pred[i]


# ------------------------------------------------------------------------ bad input
class _PredictOnly(ClassifierMixin, BaseEstimator):
    """A classifier with predict only (no scores)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_bad_input():
    X, y, _, _ = _digits(60)
    base = LogisticRegression(max_iter=200)
    with pytest.raises(ValueError, match=r"n_partitions=61 .*n_samples=60"):
        PartitionAggregationClassifier(base, n_partitions=61).fit(X, y)
    with pytest.raises(ValueError, match="aggregation='runoff' needs .*_PredictOnly"):
        PartitionAggregationClassifier(_PredictOnly(), n_partitions=3, aggregation="runoff").fit(
            X, y
        )
    with pytest.raises(ValueError, match="spread=2 does not apply to aggregation='dpa'"):
        PartitionAggregationClassifier(base, n_partitions=3, spread=2).fit(X, y)
    with pytest.raises(ValueError, match="aggregation"):
        PartitionAggregationClassifier(base, aggregation="vote").fit(X, y)
    X_bad = X.copy()
    X_bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PartitionAggregationClassifier(base, n_partitions=3).fit(X_bad, y)
    X_bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        PartitionAggregationClassifier(base, n_partitions=3).fit(X_bad, y)
    clf = PartitionAggregationClassifier(base, n_partitions=3).fit(X, y)
    with pytest.raises(ValueError, match="k must be a non-negative integer"):
        clf.certified_accuracy(X, y, k=-1)
    with pytest.raises(ValueError, match="k must be a non-negative integer"):
        clf.certified_accuracy(X, y, k=[1.5])
    with pytest.raises(ValueError, match="not among the classes seen in fit|classes seen in fit"):
        clf.certified_accuracy(X, np.full(len(y), 99), k=1)


def test_empty_partitions_warn_with_their_count():
    X, y, Xt, _ = _digits(30, 5)
    with pytest.warns(UserWarning, match=r"(\d+) of the 25 partitions are empty") as record:
        clf = PartitionAggregationClassifier(DummyClassifier(), n_partitions=25).fit(X, y)
    n_empty = int(np.sum(clf.partition_sizes_ == 0))
    assert n_empty > 0 and f"{n_empty} of the 25" in str(record[0].message)
    assert sum(m is None for m in clf.estimators_) == n_empty
    clf.predict(Xt)  # empty partitions abstain


# ----------------------------------------------------------------- scikit-learn API
def test_certified_accuracy_conventions():
    X, y, Xt, yt = _digits(300, 60)
    clf = PartitionAggregationClassifier(LogisticRegression(max_iter=300), n_partitions=10)
    clf.fit(X, y)
    worst, nominal, best = clf.certified_accuracy(Xt, yt, 0)
    assert isinstance(worst, float) and worst == nominal == best == clf.score(Xt, yt)
    ks = np.array([0, 1, 2, 3, 5])
    worst, nominal, best = clf.certified_accuracy(Xt, yt, ks)
    assert worst.shape == best.shape == (5,) and isinstance(nominal, float)
    assert np.all(np.diff(worst) <= 0) and np.all(np.diff(best) >= 0)
    radius, pred = clf.certified_radius(Xt), clf.predict(Xt)
    for k, w, b in zip(ks, worst, best):
        assert w == np.mean((pred == yt) & (radius >= k))
        assert b == 1 - np.mean((pred != yt) & (radius >= k))
        assert clf.certified_accuracy(Xt, yt, int(k)) == (w, nominal, b)


def test_strings_pandas_pickle_clone_grid_search():
    pd = pytest.importorskip("pandas")
    X, y, Xt, yt = _digits(300, 40)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "8", "9"])
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    clf = PartitionAggregationClassifier(
        LogisticRegression(max_iter=300), n_partitions=6, aggregation="runoff"
    ).fit(df, names[y])
    assert_array_equal(clf.classes_, np.sort(names))
    assert_array_equal(clf.feature_names_in_, df.columns)
    pred = clf.predict(pd.DataFrame(Xt, columns=df.columns))
    assert set(pred) <= set(names)
    clone_pred = pickle.loads(pickle.dumps(clf)).predict(pd.DataFrame(Xt, columns=df.columns))
    assert_array_equal(clone_pred, pred)
    assert clf.certified_accuracy(pd.DataFrame(Xt, columns=df.columns), names[yt], 1)[1] > 0.7
    search = GridSearchCV(clone(clf), {"n_partitions": [3, 6]}, cv=2).fit(X, names[y])
    assert search.best_params_["n_partitions"] in (3, 6)


def test_parallel_progress_and_thread_budget(capsys):
    X, y, Xt, _ = _digits(200, 30)

    class _Threads(LogisticRegression):
        def fit(self, X, y):
            from threadpoolctl import threadpool_info

            self.threads_ = max((p["num_threads"] for p in threadpool_info()), default=1)
            return super().fit(X, y)

    est = PartitionAggregationClassifier(_Threads(max_iter=200), n_partitions=4, threads=1)
    one = clone(est).fit(X, y)
    assert all(m.threads_ == 1 for m in one.estimators_)
    from joblib import parallel_config

    with parallel_config(backend="threading"):
        two = clone(est).set_params(n_jobs=2, verbose=1).fit(X, y)
    assert "partition models" in capsys.readouterr().err
    assert_array_equal(one.predict(Xt), two.predict(Xt))
    assert_array_equal(one.certified_radius(Xt), two.certified_radius(Xt))


def test_last_step_of_an_imblearn_pipeline_after_a_poisoner():
    from imblearn.pipeline import make_pipeline

    from sklpoison import PoisonTransformer

    X, y, Xt, yt = _digits(300, 60)
    pipe = make_pipeline(
        PoisonTransformer(target_class=0, image_shape=(8, 8), random_state=0),
        PartitionAggregationClassifier(LogisticRegression(max_iter=300), n_partitions=5),
    ).fit(X, y)
    clf = pipe[-1]
    assert clf.partition_sizes_.sum() == len(y)  # the poisoned set, same size (replace mode)
    assert pipe.score(Xt, yt) > 0.7
    assert clf.certified_radius(Xt).shape == (60,)


def test_imblearn_pipeline_and_skorch_as_base_models():
    pytest.importorskip("skorch")
    from imblearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklpoison.nn import GradRegNetClassifier

    X, y, Xt, yt = _digits(240, 40)
    pipe_base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    clf = PartitionAggregationClassifier(pipe_base, n_partitions=4, aggregation="runoff")
    assert clf.fit(X, y).score(Xt, yt) > 0.7
    net = GradRegNetClassifier(
        max_epochs=1, lr=0.05, module__hidden_sizes=(8,), random_state=0, batch_size=64
    )
    clf = PartitionAggregationClassifier(net, n_partitions=2, aggregation="runoff")
    clf.fit(X[:120].astype(np.float32), y[:120])
    assert all(type(m).__name__ == "GradRegNetClassifier" for m in clf.estimators_)
    assert clf.predict(Xt.astype(np.float32)).shape == (40,)
    assert np.all(clf.certified_radius(Xt.astype(np.float32)) >= 0)


@pytest.mark.slow  # a LocalCluster takes seconds to start; tests/test_dask.py covers the backend
def test_dask_backend_matches_sequential():
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    X, y, Xt, _ = _digits(200, 30)
    est = PartitionAggregationClassifier(
        LogisticRegression(max_iter=200), n_partitions=4, aggregation="finite", spread=2, n_jobs=2
    )
    ref = clone(est).set_params(n_jobs=None).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        parallel_config(backend="dask"),
    ):
        on_dask = clone(est).fit(X, y)
    assert_array_equal(ref.predict(Xt), on_dask.predict(Xt))
    assert_array_equal(ref.certified_radius(Xt), on_dask.certified_radius(Xt))
