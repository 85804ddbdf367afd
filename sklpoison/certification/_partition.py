"""Certified defences by partition aggregation: DPA, Finite Aggregation and Run-off Election.

:class:`PartitionAggregationClassifier` splits the training set into disjoint buckets by a
hash of each row's *content*, trains one copy of any classifier per partition and predicts
by a vote. A poisoned row reaches only the models of its own bucket, so the vote margin
bounds how many poisoned rows it takes to change a prediction (Levine & Feizi, 2021; Wang,
Levine & Feizi, 2022; Rezaei et al., 2023).
"""

import hashlib
import random
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.dummy import DummyClassifier
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..utils._threads import thread_budget
from ..utils.validation import check_known_labels

# the seed of the Finite Aggregation shifts: the authors' (wangwenxiao/FiniteAggregation),
# so that their certification scripts read our vote arrays with the same layout
_SHIFT_SEED = 999999999 + 208
_DEFAULT_SPREAD = {"dpa": 1, "finite": 4, "runoff": 1}
_CHUNK = 1 << 22  # entries of the largest temporary of a certificate


# ------------------------------------------------------------------- the layout
def row_digests(X):
    """SHA-256 digests of the rows of ``X`` after a fixed normalisation.

    Each row is converted to little-endian float64 (exact for float32, float16 and integers
    up to 2**53, so a float32 and a float64 copy of a row hash alike), ``-0.0`` becomes
    ``0.0``, and the row's 8 x n_features bytes are hashed. NaN and infinities must have been
    rejected before (they have no canonical value).

    Returns
    -------
    words : ndarray of uint64 of shape (n_samples, 4)
        The digests as four big-endian 64-bit words (the first one picks the bucket).
    """
    # -0.0 + 0.0 == +0.0; the sum is in native byte order, so the little-endian copy comes
    # after it (a big-endian host would otherwise hash big-endian bytes)
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64) + 0.0, dtype="<f8")
    n, width = X.shape[0], X.shape[1] * 8
    view = memoryview(X).cast("B")
    digest = b"".join(hashlib.sha256(view[i * width : (i + 1) * width]).digest() for i in range(n))
    return np.frombuffer(digest, dtype=">u8").reshape(n, 4).astype(np.uint64)


def _shifts(n_buckets, spread):
    """The ``spread`` distinct shifts of Finite Aggregation, drawn once from a fixed seed.

    ``spread=1`` (DPA) uses shift 0: model ``h`` trains on bucket ``h`` (any single shift
    only renames the models).
    """
    if spread == 1:
        return np.zeros(1, dtype=np.intp)
    return np.asarray(random.Random(_SHIFT_SEED).sample(range(n_buckets), spread), dtype=np.intp)


def _model_rows(words, y_index, n_buckets, shifts):
    """Training rows of each of the ``n_buckets`` models, each list in content order.

    Bucket ``h`` (first digest word mod ``n_buckets``) feeds models ``(h + s) % n_buckets``
    for each shift ``s``. Rows are ordered by digest, then label, so that a model never
    depends on the order of the rows given to ``fit``.
    """
    order = np.lexsort((y_index, words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
    bucket = (words[order, 0] % np.uint64(n_buckets)).astype(np.intp)
    model = (bucket[:, None] + shifts[None, :]) % n_buckets  # (n, spread)
    rows = np.repeat(order, len(shifts))
    by_model = np.argsort(model.ravel(), kind="stable")  # keeps the content order
    counts = np.bincount(model.ravel(), minlength=n_buckets)
    return np.split(rows[by_model], np.cumsum(counts)[:-1]), counts


def _fit_one(estimator, X, y):
    """One partition's model: ``None`` if empty, a constant if it holds one class."""
    if len(y) == 0:
        return None
    if np.unique(y).size == 1:
        return DummyClassifier(strategy="prior").fit(X, y)
    return clone(estimator).fit(X, y)


# ------------------------------------------------------------- the certificates
def _needed(gap, pw):
    """Fewest buckets whose largest contributions ``pw`` (last axis) sum to at least ``gap``.

    ``gap <= 0`` needs none; a gap out of reach gives ``n_buckets + 1``.
    """
    total = np.cumsum(-np.sort(-pw, axis=-1), axis=-1)
    need = (total < gap[..., None]).sum(axis=-1) + 1
    return np.where(gap <= 0, 0, need)


def _onehot(votes, n_classes):
    """``votes`` (n, M) with -1 for abstentions -> (n, M, n_classes) int8 indicators."""
    return (votes[..., None] == np.arange(n_classes)).astype(np.int8)


def _dpa_radius(counts, pred):
    """Levine & Feizi's radius: ``floor((N_pred - max_c (N_c + [c < pred])) / 2)``."""
    n, C = counts.shape
    rows = np.arange(n)
    rival = counts + (np.arange(C)[None, :] < pred[:, None])
    rival[rows, pred] = np.iinfo(rival.dtype).min
    return (counts[rows, pred] - rival.max(axis=1)) // 2


def _gaps(counts, x):
    """``N_x - N_c + [c > x]`` for every class ``c``: ``c`` overtakes ``x`` when it is <= 0."""
    C = counts.shape[1]
    rows = np.arange(counts.shape[0])
    return counts[rows, x][:, None] - counts + (np.arange(C)[None, :] > x[:, None])


def _overtake(counts, votes_b, onehot_b, x, spread):
    """Buckets needed for each class to overtake ``x`` in the plurality vote (Wang et al.).

    ``votes_b``: the votes of each bucket's ``spread`` models (n, B, spread); a model
    switching from ``x`` to ``c`` closes the gap by 2, from another class (or an abstention)
    by 1, from ``c`` by 0.
    """
    A = (votes_b == x[:, None, None]).sum(axis=2)  # (n, B)
    pw = spread + A[:, None, :] - onehot_b  # (n, C, B)
    return _needed(_gaps(counts, x), pw), pw


def _finite_radius(counts, votes_b, onehot_b, pred, spread):
    need, _ = _overtake(counts, votes_b, onehot_b, pred, spread)
    need[np.arange(len(pred)), pred] = np.iinfo(need.dtype).max
    return need.min(axis=1) - 1


def _runoff_finalists(counts, ranks):
    """Round one's top two and round two's winner (ties to the smaller class index).

    ``ranks`` (n, M, C): each model's rank of each class (0 = top; abstainers rank all 0
    and so prefer neither finalist).
    """
    rows = np.arange(counts.shape[0])
    m1 = np.argmax(counts, axis=1)
    masked = counts.copy()
    masked[rows, m1] = -1
    m2 = np.argmax(masked, axis=1)
    r1, r2 = ranks[rows, :, m1], ranks[rows, :, m2]  # (n, M)
    duel = (r1 < r2).sum(axis=1) - (r2 < r1).sum(axis=1)
    pred = np.where((duel > 0) | ((duel == 0) & (m1 < m2)), m1, m2)
    return pred, np.where(pred == m1, m2, m1)


def _runoff_radius(counts, votes_b, onehot_b, ranks, ranks_b, pred, sec, spread):
    """Rezaei et al.'s two-round certificate on the bucket layout (their FA+ROE bound).

    The prediction changes only if two classes overtake ``pred`` in round one (CertR1), or
    a class ``c`` overtakes the other finalist in round one and beats ``pred`` in round two
    (CertR2). Each term is a lower bound on the buckets the attacker must touch.
    """
    n, C = counts.shape
    rows = np.arange(n)
    big = np.iinfo(np.int64).max
    need_p, pw_p = _overtake(counts, votes_b, onehot_b, pred, spread)
    need_s, _ = _overtake(counts, votes_b, onehot_b, sec, spread)
    gap_p = _gaps(counts, pred)
    # CertR1: both c1 and c2 overtake pred
    c1, c2 = np.triu_indices(C, k=1)
    both = _needed(gap_p[:, c1] + gap_p[:, c2], pw_p[:, c1] + pw_p[:, c2] - spread)
    r1 = np.maximum(np.maximum(need_p[:, c1], need_p[:, c2]), both).astype(np.int64)
    r1[(c1[None, :] == pred[:, None]) | (c2[None, :] == pred[:, None])] = big
    cert1 = r1.min(axis=1, initial=big)
    # CertR2: c overtakes sec in round one and beats pred in round two; a model that
    # prefers pred to c closes that gap by 2, an abstaining one by 1
    at_pred = ranks[rows, :, pred][..., None]  # (n, M, 1); abstainers rank all classes 0
    duel = (ranks > at_pred).sum(axis=1) - (ranks < at_pred).sum(axis=1)  # models, not slots
    gap2 = duel + (np.arange(C)[None, :] > pred[:, None])
    ahead = ranks_b > ranks_b[rows, :, :, pred][..., None]  # (n, B, spread, C): pred above c
    pw2 = 2 * ahead.sum(axis=2) + (votes_b < 0).sum(axis=2)[:, :, None]  # (n, B, C)
    r2 = np.maximum(need_s, _needed(gap2, pw2.transpose(0, 2, 1))).astype(np.int64)
    r2[rows, pred] = big
    return np.minimum(cert1, r2.min(axis=1)) - 1


# -------------------------------------------------------------------- the estimator
class PartitionAggregationClassifier(ClassifierMixin, BaseEstimator):
    """Certified defence against data poisoning by partition aggregation (DPA, FA, ROE).

    A meta-estimator (like :class:`~sklearn.ensemble.BaggingClassifier`) that trains one
    clone of ``estimator`` per partition of the training set and predicts by a vote. Rows
    are assigned by a hash of their features only (SHA-256 of the row's bytes as
    little-endian float64, ``-0.0`` read as ``0.0``, so that float32, float64 and integer
    copies of a row land alike), never by position: a poisoner who inserts, removes or
    relabels one row changes the training set of one partition (DPA), or of the ``spread``
    models fed by one bucket (Finite Aggregation), and nothing else. The vote margin then
    certifies each prediction (:meth:`certified_radius`).

    - ``aggregation="dpa"``: Deep Partition Aggregation (Levine & Feizi, 2021).
      ``n_partitions`` models, one per bucket; plurality vote, ties to the smaller class
      index. Radius ``floor((N_pred - max_c (N_c + [c < pred])) / 2)``.
    - ``aggregation="finite"``: Finite Aggregation (Wang, Levine & Feizi, 2022).
      ``n_partitions * spread`` buckets; each bucket feeds ``spread`` of the
      ``n_partitions * spread`` models (shifts drawn once from a fixed seed), so each model
      trains on about as many rows as a DPA partition. Same vote; the radius counts the
      buckets an attacker must touch, greedily by their largest effect on the margin.
      ``spread=1`` is DPA exactly.
    - ``aggregation="runoff"``: Run-off Election (Rezaei et al., 2023) on the same layout
      (``spread=1``: DPA+ROE; ``spread > 1``: FA+ROE). Round one is the plurality vote of
      the models' top classes; round two a duel between its top two, each model voting for
      the one it ranks higher. Needs ``predict_proba`` or ``decision_function``.

    Threat model and units (:meth:`certified_radius`): the prediction on a test row is
    unchanged by *any* poisoning that inserts, removes or relabels at most ``r`` training
    rows in all, a row whose features change counting 2 (its old bucket loses it, its new
    one gains it), for any base learner, provided each base model is a deterministic
    function of its (content-ordered) training rows and labels stay among ``classes_``.
    :class:`~sklpoison.IntervalCertifier` certifies instead one model trained by a fixed
    SGD run against label flips and bounded (``epsilon``-ball) or clipped feature changes of
    a fixed number of rows per batch, with no insertions or removals.

    Read more in the :ref:`User Guide <partition_aggregation>`.

    Parameters
    ----------
    estimator : classifier
        The base classifier, cloned for every partition (any scikit-learn classifier, an
        :class:`imblearn.pipeline.Pipeline`, a skorch net). Fix its ``random_state`` if it
        has one: the certificates assume each model is a function of its training rows. A
        partition whose rows all have one label gets a constant model
        (:class:`~sklearn.dummy.DummyClassifier`) and an empty one abstains.
    n_partitions : int, default=50
        Number of partitions ``K``: the certified radius is at most about ``K / 2``, while
        each model sees about ``n_samples / K`` rows. At most the number of training rows.
    aggregation : {"dpa", "finite", "runoff"}, default="dpa"
        The aggregation and its certificate (see above).
    spread : int or None, default=None
        Finite Aggregation's ``d``: buckets per model and models per bucket (
        ``n_partitions * spread`` models are trained). ``None``: 1 for ``"dpa"`` and
        ``"runoff"``, 4 for ``"finite"`` (on digits, d = 16 certified no more than d = 4
        at four times the fits). ``"dpa"`` needs 1.
    n_jobs : int or None, default=None
        Partition models fitted in parallel (:class:`sklearn.utils.parallel.Parallel`; a
        ``joblib.parallel_config(backend="dask")`` context carries them onto a cluster).
    threads : int or None, default=None
        BLAS/OpenMP/torch threads in all during ``fit``, shared by the ``n_jobs`` fits (see
        :func:`sklpoison.model_selection.thread_budget`); ``None``: ``OMP_NUM_THREADS`` if
        set, otherwise one per fit.
    verbose : int, default=0
        Show a progress bar over the partition fits when positive.

    Attributes
    ----------
    estimators_ : list
        The ``n_partitions * spread`` fitted models, in layout order (``None`` for an empty
        partition). Only the models are kept, not their training rows.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    shifts_ : ndarray of shape (spread,)
        The bucket shifts: bucket ``h`` feeds models ``(h + s) % (n_partitions * spread)``.
    partition_sizes_ : ndarray of shape (n_partitions * spread,)
        Training rows of each model.
    spread_ : int
        The resolved ``spread``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen in ``fit`` (string column names only).

    See Also
    --------
    sklpoison.IntervalCertifier : Certificates for one gradient-trained model.
    sklpoison.plotting.CertificationDisplay : Certified accuracy against the budget.

    References
    ----------
    .. [1] A. Levine and S. Feizi. "Deep Partition Aggregation: Provable Defenses against
       General Poisoning Attacks". ICLR 2021.
    .. [2] W. Wang, A. Levine and S. Feizi. "Improved Certified Defenses against Data
       Poisoning with (Deterministic) Finite Aggregation". ICML 2022.
    .. [3] K. Rezaei, K. Banihashem, A. Chegini and S. Feizi. "Run-Off Election: Improved
       Provable Defense against Data Poisoning Attacks". ICML 2023.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.datasets import load_digits
    >>> from sklpoison import PartitionAggregationClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = PartitionAggregationClassifier(
    ...     LogisticRegression(max_iter=500), n_partitions=20
    ... ).fit(X[:1000] / 16, y[:1000])
    >>> clf.certified_radius(X[1000:1003] / 16)  # poisoned rows each prediction withstands
    array([4, 7, 9])
    >>> worst, nominal, best = clf.certified_accuracy(X[1000:] / 16, y[1000:], k=[0, 5])
    >>> worst.round(2)  # certified accuracy without poisoning and under 5 poisoned rows
    array([0.91, 0.72])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "n_partitions": [Interval(Integral, 1, None, closed="left")],
        "aggregation": [StrOptions({"dpa", "finite", "runoff"})],
        "spread": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        *,
        n_partitions=50,
        aggregation="dpa",
        spread=None,
        n_jobs=None,
        threads=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_partitions = n_partitions
        self.aggregation = aggregation
        self.spread = spread
        self.n_jobs = n_jobs
        self.threads = threads
        self.verbose = verbose

    def _check_config(self, n_samples):
        spread = _DEFAULT_SPREAD[self.aggregation] if self.spread is None else self.spread
        if self.aggregation == "dpa" and spread != 1:
            raise ValueError(
                f"spread={self.spread} does not apply to aggregation='dpa' (DPA is spread=1); "
                "use aggregation='finite' (or 'runoff') for spread > 1."
            )
        if self.n_partitions > n_samples:
            raise ValueError(
                f"n_partitions={self.n_partitions} is larger than the number of training rows "
                f"(n_samples={n_samples}); use at most n_samples partitions."
            )
        if self.aggregation == "runoff" and not (
            hasattr(self.estimator, "predict_proba") or hasattr(self.estimator, "decision_function")
        ):
            raise ValueError(
                f"aggregation='runoff' needs each base model to rank all classes, but the "
                f"estimator {type(self.estimator).__name__} has neither predict_proba nor "
                "decision_function; use aggregation='dpa' or 'finite', or a classifier with "
                "scores (e.g. SVC(probability=True))."
            )
        return spread

    @_fit_context(prefer_skip_nested_validation=False)  # the base estimator validates itself
    def fit(self, X, y):
        """Partition the rows by content, fit one model per partition.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (finite: rows are hashed by content).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : PartitionAggregationClassifier
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        spread = self._check_config(X.shape[0])
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n_buckets = self.n_partitions * spread
        shifts = _shifts(n_buckets, spread)
        groups, sizes = _model_rows(row_digests(X), y_index, n_buckets, shifts)
        empty = int(np.sum(sizes == 0))
        if empty:
            warnings.warn(
                f"{empty} of the {n_buckets} partitions are empty (n_partitions="
                f"{self.n_partitions}, spread={spread}, {X.shape[0]} rows); their models "
                "abstain. Use fewer partitions.",
                UserWarning,
                stacklevel=2,
            )
        with thread_budget(n_jobs=self.n_jobs, threads=self.threads):
            fits = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_fit_one)(self.estimator, X[idx], y[idx]) for idx in groups
            )
            if self.verbose:
                from tqdm.auto import tqdm

                fits = tqdm(fits, total=n_buckets, desc="partition models", unit="model")
            self.estimators_ = list(fits)
        self.shifts_, self.partition_sizes_, self.spread_ = shifts, sizes, spread
        return self

    # ------------------------------------------------------------ base-model outputs
    def _global_index(self, labels, model):
        index = np.searchsorted(self.classes_, labels)
        index = np.clip(index, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[index] == labels):
            raise ValueError(
                f"a partition model ({type(model).__name__}) predicted labels outside the "
                f"classes seen in fit ({self.classes_!r})."
            )
        return index

    def _scores(self, model, X):
        """Scores of the classes a model saw, as global columns (-inf for the others)."""
        S = np.full((X.shape[0], len(self.classes_)), -np.inf)
        cols = self._global_index(np.asarray(model.classes_), model)
        if hasattr(model, "decision_function") and len(cols) > 1:
            raw = np.asarray(model.decision_function(X), dtype=np.float64)
            raw = np.column_stack([-raw, raw]) if raw.ndim == 1 else raw
        else:
            raw = np.asarray(model.predict_proba(X), dtype=np.float64)
        if raw.shape != (X.shape[0], len(cols)):
            raise ValueError(
                f"a partition model ({type(model).__name__}) returned scores of shape "
                f"{raw.shape} for its {len(cols)} classes; its scores must have one column "
                "per class in its classes_."
            )
        if np.isnan(raw).any():
            raise ValueError(f"a partition model ({type(model).__name__}) returned NaN scores.")
        S[:, cols] = raw
        return S

    def _outputs(self, X):
        """Votes (n, M; -1 abstains) and, for run-off, class ranks (n, M, C; 0 = top)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        n, M, C = X.shape[0], len(self.estimators_), len(self.classes_)
        votes = np.full((n, M), -1, dtype=np.int16 if C < 2**15 else np.int32)
        ranks = np.zeros((n, M, C), dtype=votes.dtype) if self.aggregation == "runoff" else None
        for m, model in enumerate(self.estimators_):
            if model is None:
                continue
            if ranks is None:
                votes[:, m] = self._global_index(model.predict(X), model)
                continue
            # unseen classes rank below every seen one; ties go to the smaller class index
            order = np.argsort(-self._scores(model, X), axis=1, kind="stable")
            ranks[np.arange(n)[:, None], m, order] = np.arange(C)
            votes[:, m] = order[:, 0]
        return votes, ranks

    def _tally(self, X):
        votes, ranks = self._outputs(X)
        C = max(len(self.classes_), 2)  # one class: a phantom rival with no votes
        counts = _onehot(votes, C).sum(axis=1, dtype=np.int64)
        if ranks is not None and ranks.shape[2] < C:  # the phantom ranks last (abstainers: 0)
            ranks = np.concatenate([ranks, (votes >= 0)[..., None].astype(ranks.dtype)], axis=2)
        return votes, ranks, counts

    def _predict_index(self, counts, ranks):
        """Predicted class indices and, for run-off, the other finalist."""
        if ranks is None:
            return np.argmax(counts, axis=1), None
        return _runoff_finalists(counts, ranks)

    def predict(self, X):
        """Aggregated prediction of the partition models.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Plurality vote (``"dpa"``, ``"finite"``) or run-off winner, ties to the
            smaller class index.
        """
        _, ranks, counts = self._tally(X)
        return self.classes_[self._predict_index(counts, ranks)[0]]

    def certified_radius(self, X):
        """Poisoned training rows each prediction provably withstands.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.

        Returns
        -------
        radius : ndarray of int of shape (n_samples,)
            For each row, the largest ``r`` such that :meth:`predict` gives the same class
            after any poisoning of the training set by at most ``r`` insertions, removals or
            label flips in all (a row whose features change counts 2), the estimator being
            refitted on the poisoned set. ``0``: certified only without poisoning.
        """
        return self._certify(X)[1]

    def _certify(self, X):
        """Predicted class indices and certified radii."""
        votes, ranks, counts = self._tally(X)
        pred, sec = self._predict_index(counts, ranks)
        if self.aggregation == "dpa":
            return pred, _dpa_radius(counts, pred)
        n, C, d = len(pred), counts.shape[1], self.spread_
        B = len(self.estimators_)
        mob = (np.arange(B)[:, None] + self.shifts_[None, :]) % B  # each bucket's models
        width = C * (C - 1) // 2 if ranks is not None else C
        step = max(1, _CHUNK // max(1, width * B, C * B * d))
        out = np.empty(n, dtype=np.int64)
        for a in range(0, n, step):
            s = slice(a, a + step)
            votes_b = votes[s][:, mob]  # (q, B, d)
            onehot_b = _onehot(votes_b, C).sum(axis=2).transpose(0, 2, 1)  # (q, C, B)
            if ranks is None:
                out[s] = _finite_radius(counts[s], votes_b, onehot_b, pred[s], d)
                continue
            ranks_b = ranks[s][:, mob]  # (q, B, d, C)
            out[s] = _runoff_radius(
                counts[s], votes_b, onehot_b, ranks[s], ranks_b, pred[s], sec[s], d
            )
        return pred, out

    def certified_accuracy(self, X, y, k):
        """Certified, nominal and best-case accuracy under ``k`` poisoned training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,)
            True labels.
        k : int or array-like of int
            Poisoning budget(s) in the units of :meth:`certified_radius`.

        Returns
        -------
        worst : float or ndarray of shape (n_budgets,)
            Fraction of rows predicted correctly with a radius of at least ``k``: a lower
            bound on the accuracy after any poisoning of ``k`` rows.
        nominal : float
            Accuracy of :meth:`predict`.
        best : float or ndarray of shape (n_budgets,)
            Upper bound on that accuracy: rows predicted wrongly with a radius of at least
            ``k`` stay wrong.
        """
        check_is_fitted(self)
        y_index = check_known_labels(
            column_or_1d(y), self.classes_, type(self).__name__, known_as="the classes seen in fit"
        )
        budgets = np.asarray(k)
        if budgets.dtype.kind not in "iu" or budgets.ndim > 1 or np.any(budgets < 0):
            raise ValueError(
                f"k must be a non-negative integer or a 1-D array of them (poisoned training "
                f"rows); got {k!r}."
            )
        pred, radius = self._certify(X)
        correct = pred == y_index
        held = radius[None, :] >= np.atleast_1d(budgets)[:, None]
        worst = np.mean(held & correct, axis=1)
        best = 1.0 - np.mean(held & ~correct, axis=1)
        if budgets.ndim == 0:
            return float(worst[0]), float(np.mean(correct)), float(best[0])
        return worst, float(np.mean(correct)), best
