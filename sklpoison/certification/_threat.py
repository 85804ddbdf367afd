"""Sound bounds on per-batch gradient sums under poisoning: outer products and top-k sums."""

import numpy as np

from ..numerics import interval as ia
from ..numerics.rounding import TINY, gamma


def _outer_bounds(h_lo, h_hi, d_lo, d_hi):
    """Per-sample interval products ``h_b (x) d_b`` laid out as ``(n_in, n_out, B)``.

    Every end point is a single rounded product (the sign split keeps one
    non-zero term), so its relative rounding error is at most one unit roundoff.
    """
    hl = np.ascontiguousarray(h_lo.T)[:, None, :]
    dl = np.ascontiguousarray(d_lo.T)[None, :, :]
    dh = np.ascontiguousarray(d_hi.T)[None, :, :]
    shape = (hl.shape[0], dl.shape[1], dl.shape[2])
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            return hl * dl, hl * dh
        hp, hn = np.maximum(hl, 0.0), np.minimum(hl, 0.0)
        return _fma2(hp, dl, hn, dh, shape), _fma2(hp, dh, hn, dl, shape)
    hh = np.ascontiguousarray(h_hi.T)[:, None, :]
    if np.all(h_lo >= 0):
        lo = _fma2(hh, np.minimum(dl, 0.0), hl, np.maximum(dl, 0.0), shape)
        hi = _fma2(hh, np.maximum(dh, 0.0), hl, np.minimum(dh, 0.0), shape)
        return lo, hi
    return ia.interval_mul(hl, hh, dl, dh, round_outward=False)


def _fma2(a, b, c, d, shape):
    """``a * b + c * d`` with broadcasting and a single temporary."""
    out = np.multiply(a, b)
    tmp = np.empty(shape)
    np.multiply(c, d, out=tmp)
    out += tmp
    return out


def _outer_diff(h_lo, h_hi, clean, poisoned):
    """``(p_lo - g_lo, p_hi - g_hi)`` of per-sample products sharing the factor ``h``.

    ``g = h (x) d`` and ``p = h (x) d'`` with the same ``h`` (a point or a
    non-negative interval): the end points are linear in the sign-split ``d``
    bounds, so the differences are products of ``h`` with differences of ``d``
    bounds (clamped to the sound side of zero). Returns ``None`` for an
    interval ``h`` of mixed sign.
    """
    dl, dh = (np.ascontiguousarray(a.T)[None, :, :] for a in clean)
    pl, ph = (np.ascontiguousarray(a.T)[None, :, :] for a in poisoned)
    hl = np.ascontiguousarray(h_lo.T)[:, None, :]
    shape = (hl.shape[0], dl.shape[1], dl.shape[2])
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            lo, hi = hl * (pl - dl), hl * (ph - dh)
        else:
            hp, hn = np.maximum(hl, 0.0), np.minimum(hl, 0.0)
            lo = _fma2(hp, pl - dl, hn, ph - dh, shape)
            hi = _fma2(hp, ph - dh, hn, pl - dl, shape)
    elif np.all(h_lo >= 0):
        hh = np.ascontiguousarray(h_hi.T)[:, None, :]
        lo = _fma2(
            hh,
            np.minimum(pl, 0.0) - np.minimum(dl, 0.0),
            hl,
            np.maximum(pl, 0.0) - np.maximum(dl, 0.0),
            shape,
        )
        hi = _fma2(
            hh,
            np.maximum(ph, 0.0) - np.maximum(dh, 0.0),
            hl,
            np.minimum(ph, 0.0) - np.minimum(dh, 0.0),
            shape,
        )
    else:
        return None
    np.minimum(lo, 0.0, out=lo)
    np.maximum(hi, 0.0, out=hi)
    return lo, hi


def _outer_diff_ball(x, x_lo, x_hi, clean, poisoned):
    """Bounds on ``p - g`` for ``g = x (x) d`` and ``p = x' (x) d'`` with ``x' in [x_lo, x_hi]``.

    ``x`` is a point (the clean inputs) and ``[x_lo, x_hi]`` the (outward-rounded)
    ball around it. The poisoned product's end points are the exact corner
    products of the two intervals (as the clipping path computes them), minus the
    clean end points ``x+ d_hi + x- d_lo`` (upper) and ``x+ d_lo + x- d_hi``
    (lower); clamped to the sound side of zero. Never looser than the
    midpoint-radius form ``x (p - d) +/- radius max|d'|``.
    """
    dl, dh = (np.ascontiguousarray(a.T)[None, :, :] for a in clean)
    pl, ph = (np.ascontiguousarray(a.T)[None, :, :] for a in poisoned)
    xl = np.ascontiguousarray(x.T)[:, None, :]
    lo_x = np.ascontiguousarray(x_lo.T)[:, None, :]
    hi_x = np.ascontiguousarray(x_hi.T)[:, None, :]
    shape = (xl.shape[0], dl.shape[1], dl.shape[2])
    p_lo, p_hi = ia.interval_mul(lo_x, hi_x, pl, ph, round_outward=False)
    if np.all(x >= 0):
        lo, hi = p_lo - xl * dl, p_hi - xl * dh
    else:
        xp, xn = np.maximum(xl, 0.0), np.minimum(xl, 0.0)
        lo = p_lo - _fma2(xp, dl, xn, dh, shape)
        hi = p_hi - _fma2(xp, dh, xn, dl, shape)
    np.minimum(lo, 0.0, out=lo)
    np.maximum(hi, 0.0, out=hi)
    return lo, hi


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


def _outer_sums(h_lo, h_hi, d_lo, d_hi):
    """Batch sums of the per-sample bounds of :func:`_outer_bounds`, by BLAS.

    Returns ``None`` for an interval ``h`` of mixed sign (no sign split).
    """
    if h_lo is h_hi:
        if np.all(h_lo >= 0):
            return h_lo.T @ d_lo, h_lo.T @ d_hi
        hp, hn = np.maximum(h_lo, 0.0).T, np.minimum(h_lo, 0.0).T
        return hp @ d_lo + hn @ d_hi, hp @ d_hi + hn @ d_lo
    if np.all(h_lo >= 0):
        lo = h_hi.T @ np.minimum(d_lo, 0.0) + h_lo.T @ np.maximum(d_lo, 0.0)
        hi = h_hi.T @ np.maximum(d_hi, 0.0) + h_lo.T @ np.minimum(d_hi, 0.0)
        return lo, hi
    return None


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


_CHUNK_ELEMENTS = 1 << 21


def _combine_per_sample(variants, n_layers, B, terms, k_unbounded, clip):
    """Batch-mean gradient bounds from per-sample bounds of every variant, per layer.

    Works on blocks of weight rows so that the ``(rows, n_out, B)`` temporaries
    stay small. Rounding: every per-sample end point carries a relative error of
    at most ``u``; sums, differences and sorted sums add at most a few
    ``gamma_{B+8}`` times the sum of the magnitudes, which is bounded by the
    BLAS product ``max|h|^T max|d|`` over all variants; the bounds are widened
    by ``16 gamma_{B+8}`` times that product.
    """
    # With M_b = max|h_b| max|d_b| over the variants (>= |p_b|, |g_b| of every end point):
    # per-sample end points round once (<= U M_b); the clean sum errs by <= gamma(B) sum M_b
    # (Higham (3.5)); each difference p - g (<= 2 U (1 + U) * 2 M_b), joint excess (two more
    # subtractions, <= 3 U * 3 M_b) and top-k sum (<= gamma(k) of its terms; selecting the
    # top k of perturbed values moves the sum by <= the sum of the perturbations) adds
    # <= 4 gamma(B + 8) sum M_b per term, with at most three terms: 13 gamma(B + 8) sum M_b.
    # The final subtraction of the slack and division by B (each <= U |result|, and
    # |result| <= 7 sum M_b) fit in the remaining 3 gamma(B + 8) >= 27 U; h_mag.T @ d_mag is
    # sum M_b up to a relative gamma(B) (positive terms), absorbed by the same margin.
    g = gamma(B + 8)
    out = []
    for layer in range(n_layers):
        h_mag = None
        d_mag = None
        for hs, ds in variants.values():
            hm = np.maximum(np.abs(hs[layer][0]), np.abs(hs[layer][1]))
            dm = np.maximum(np.abs(ds[layer][0]), np.abs(ds[layer][1]))
            h_mag = hm if h_mag is None else np.maximum(h_mag, hm)
            d_mag = dm if d_mag is None else np.maximum(d_mag, dm)
        slack_W = 16 * g * (h_mag.T @ d_mag) + 16 * B * TINY
        slack_b = 16 * g * d_mag.sum(axis=0) + 16 * B * TINY
        n_in = h_mag.shape[1]
        n_out = d_mag.shape[1]
        rows = max(1, _CHUNK_ELEMENTS // max(1, n_out * B))
        gW_lo = np.empty((n_in, n_out))
        gW_hi = np.empty((n_in, n_out))
        for r0 in range(0, n_in, rows):
            sl = slice(r0, r0 + rows)
            arrays, pre_diffs = {}, {}
            clean_hs, clean_ds = variants["clean"]
            for name, (hs, ds) in variants.items():
                if name == "clean":
                    continue
                h_lo, h_hi = hs[layer]
                h_lo_c = h_lo[:, sl]
                h_hi_c = h_lo_c if h_lo is h_hi else h_hi[:, sl]
                diff = None
                c_lo, c_hi = clean_hs[layer]
                if hs is clean_hs and clip is None:
                    # same layer inputs as the clean samples (label poisoning):
                    # the increase is h (x) (change of the delta bounds), directly
                    diff = _outer_diff(h_lo_c, h_hi_c, clean_ds[layer], ds[layer])
                elif clip is None and c_lo is c_hi and h_lo is not h_hi:
                    # inputs in a ball around the clean point inputs (first layer)
                    diff = _outer_diff_ball(c_lo[:, sl], h_lo_c, h_hi_c, clean_ds[layer], ds[layer])
                if diff is None:
                    arrays[name] = _outer_bounds(h_lo_c, h_hi_c, *ds[layer])
                else:
                    pre_diffs[name] = diff
            h_lo, h_hi = clean_hs[layer]
            h_lo_c = h_lo[:, sl]
            h_hi_c = h_lo_c if h_lo is h_hi else h_hi[:, sl]
            clean_sums = None
            if not arrays and terms is not None and clip is None:
                # every variant's increase is known: the clean per-sample bounds
                # are only summed, which BLAS does without materialising them
                clean_sums = _outer_sums(h_lo_c, h_hi_c, *clean_ds[layer])
            if clean_sums is None:
                arrays["clean"] = _outer_bounds(h_lo_c, h_hi_c, *clean_ds[layer])
            gW_lo[sl], gW_hi[sl] = _combine_chunk(
                arrays, B, terms, k_unbounded, clip, pre_diffs, clean_sums
            )
        arrays = {
            name: (np.ascontiguousarray(ds[layer][0].T), np.ascontiguousarray(ds[layer][1].T))
            for name, (_, ds) in variants.items()
        }
        gb_lo, gb_hi = _combine_chunk(arrays, B, terms, k_unbounded, clip)
        out.append(
            (
                (gW_lo - slack_W) / B,
                (gW_hi + slack_W) / B,
                (gb_lo - slack_b) / B,
                (gb_hi + slack_b) / B,
            )
        )
    return out


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
