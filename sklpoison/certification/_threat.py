"""The threat model of one fit and its sorted sums.

:class:`_Threat` is the resolved threat model (budgets per batch, radii, label sets);
:func:`_variant_terms` says which per-sample variants (feature-poisoned ``x``,
label-changed ``y``, both ``xy``) the adversary may pick and at most how many rows;
:func:`_combine_chunk` bounds a batch gradient sum by the clean sum plus the sorted sums
(the ``k`` most extreme per-coordinate increases) of those variants, and
:func:`_topk_last` is the sorted sum itself. Both abstract domains (box, zonotope) use them.
"""

from dataclasses import dataclass

import numpy as np

from ..numerics import interval as ia


@dataclass(frozen=True)
class _Threat:
    """The resolved threat model of one fit.

    ``kx``: feature-poisoned samples per batch (``eps`` ball); ``ky``: label changes
    per batch; ``nu``: bound on a regression target's change; ``n_poison``: the raw
    budget (the unbounded adversary's count).
    """

    kind: str
    kx: int
    ky: int
    eps: float
    nu: float
    paired: bool
    unbounded: bool
    n_poison: int
    clip: object
    label_sets: object


def _variant_terms(kx, ky, paired):
    """The sorted-sum terms of a threat: which per-sample variants, and at most how many rows.

    With ``kx`` feature-poisoned and ``ky`` label-changed rows per batch, the adversary
    picks up to ``kx`` rows of variant ``x``, up to ``ky`` of ``y`` and up to
    ``min(kx, ky)`` rows changed both ways (``xy``, counted against both budgets); a
    paired threat changes features and label of the same ``max(kx, ky)`` rows.
    """
    if paired and kx > 0 and ky > 0:
        return [(("xy",), max(kx, ky))]
    terms = []
    if kx > 0:
        terms.append((("x",), kx))
    if ky > 0:
        terms.append((("y",), ky))
    if kx > 0 and ky > 0:
        terms.append((("xy", "x", "y"), min(kx, ky)))
    return terms


def _topk_last(values, k, largest, overwrite=False):
    """Sum of the ``k`` largest (smallest) entries along the last axis.

    With ``overwrite=True`` the entries of ``values`` are reordered in place
    (no copy of the ``(..., B)`` array).
    """
    n = values.shape[-1]
    k = int(min(max(k, 0), n))
    if k == 0:
        return np.zeros(values.shape[:-1])
    if k == n:
        return values.sum(axis=-1)
    if k <= 4 and n > 64:
        # a few passes of argmax (a fast reduction) beat a partition for small k
        v = np.array(values, dtype=np.float64)  # a copy: the caller's values stay as they are
        pick, fill = (np.argmax, -np.inf) if largest else (np.argmin, np.inf)
        total = np.zeros(values.shape[:-1])
        for _ in range(k):
            idx = pick(v, axis=-1)[..., None]
            total += np.take_along_axis(v, idx, axis=-1)[..., 0]
            np.put_along_axis(v, idx, fill, axis=-1)
        return total
    kth = n - k if largest else k - 1
    if overwrite and values.flags.c_contiguous and values.flags.writeable:
        values.partition(kth, axis=-1)
        part = values
    else:
        part = np.partition(values, kth, axis=-1)
    return part[..., n - k :].sum(axis=-1) if largest else part[..., :k].sum(axis=-1)


def _combine_chunk(arrays, B, terms, k_unbounded, clip, pre_diffs=None, clean_sums=None):
    """Bounds on the batch gradient sum for one block of coordinates (batch on the last axis).

    ``arrays[name] = (lo, hi)``; ``terms`` lists ``(names, k)``: ``("x",)`` adds the
    ``k`` largest increases of variant ``x`` over the clean bounds, and
    ``("xy", "x", "y")`` the ``k`` largest excesses of the joint variant over the
    two separate ones (independent feature and label budgets). ``terms=None``
    is the unbounded adversary (``k_unbounded`` arbitrary clipped samples).
    """
    if clip is not None:
        arrays = {name: ia.clip_interval(lo, hi, clip) for name, (lo, hi) in arrays.items()}
    if terms is None:
        g_lo, g_hi = arrays["clean"]
        k = k_unbounded
        return (
            _topk_last(g_lo, B - k, largest=False, overwrite=clip is not None) - k * clip,
            _topk_last(g_hi, B - k, largest=True, overwrite=clip is not None) + k * clip,
        )
    if clean_sums is not None:
        s_lo, s_hi = clean_sums
    else:
        g_lo, g_hi = arrays["clean"]
        s_lo, s_hi = g_lo.sum(axis=-1), g_hi.sum(axis=-1)
    diffs = dict(pre_diffs or {})
    for names, _ in terms:
        for name in names:
            if name not in diffs:
                lo, hi = arrays[name]
                diffs[name] = (np.minimum(lo - g_lo, 0.0), np.maximum(hi - g_hi, 0.0))
    # the joint-budget terms first: the single-variant arrays they read are
    # then partitioned in place (reordered along the batch) by their own terms
    t_arrays = {}
    for names, _ in terms:
        if len(names) > 1:
            (bl, bh), (xl, xh), (yl, yh) = (diffs[n] for n in names)
            t_arrays[names] = (np.minimum(bl - xl - yl, 0.0), np.maximum(bh - xh - yh, 0.0))
    for names, k in terms:
        t_lo, t_hi = t_arrays[names] if len(names) > 1 else diffs[names[0]]
        s_lo = s_lo + _topk_last(t_lo, k, largest=False, overwrite=True)
        s_hi = s_hi + _topk_last(t_hi, k, largest=True, overwrite=True)
    return s_lo, s_hi
