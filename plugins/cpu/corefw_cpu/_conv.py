"""Convolution and pooling kernels: im2col with one GEMM per op, in channel-major memory,
with per-thread scratch buffers and reuse of idle result buffers."""

from __future__ import annotations

import functools
import math
import sys
import threading

import numpy as np

# Layout: the kernels compute on the channel-major view ``x.transpose(1, 0, 2, 3)`` (C, N, H, W)
# and return their results as that same view of a C-contiguous (C, N, H, W) array. The GEMMs then
# see plain 2-D matrices (im2col rows (c, i, j), columns (n, h, w)) with no transposing copies,
# the weight gradient is one GEMM over the whole batch, and elementwise ops between layers
# (NumPy keeps the memory order) stay in that layout. Python loops run over kernel offsets only;
# on big inputs the copies between them run on blocks of channels (or samples) in parallel
# threads (NumPy releases the GIL), each block writing its own part of the result, so results
# do not depend on the thread count (``COREFW_CPU_THREADS``, default: the CPUs this process may
# use). Fresh multi-megabyte arrays cost page faults on every call (glibc returns freed ones to
# the kernel), so temporaries (the im2col matrix) live in per-thread scratch buffers and
# results come from a small cache of buffers reused once nothing refers to them (``_output``).

_SCRATCH_MAX = 1 << 28  # bigger temporaries are allocated per call
_PARALLEL_MIN = 1 << 17  # elements; smaller jobs run in the calling thread
_THREADS: dict = {}


def _scratch(slot: str, shape: tuple, dtype):
    """A reusable per-thread (uninitialised) array for a kernel's temporaries."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > _SCRATCH_MAX:
        return np.empty(shape, dtype)
    local = _THREADS.get("local")
    if local is None:
        local = _THREADS.setdefault("local", threading.local())
    buf = getattr(local, slot, None)
    if buf is None or buf.nbytes < nbytes:
        buf = np.empty(max(nbytes, 64), np.uint8)
        setattr(local, slot, buf)
    return buf[:nbytes].view(dtype).reshape(shape)


_OUTPUT_MIN = 1 << 18  # bytes; smaller results come from malloc directly
_OUTPUT_CACHE = 1 << 28  # bytes of idle result buffers kept for reuse


def _output(shape: tuple, dtype, zero: bool = False):
    """A new array for a kernel's result. Big ones reuse a cached buffer that no array refers
    to any more (its reference count says so): a caching allocator, as PyTorch's for CUDA."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _OUTPUT_MIN:
        return (np.zeros if zero else np.empty)(shape, dtype)
    lock = _THREADS.get("lock") or _THREADS.setdefault("lock", threading.Lock())
    with lock:
        bases = _THREADS.setdefault("outputs", [])
        for base in bases:  # referenced here by the list, `base` and getrefcount's argument
            if base.nbytes == nbytes and sys.getrefcount(base) <= 3:
                break
        else:
            idle = [b for b in bases if sys.getrefcount(b) <= 3]
            total = sum(b.nbytes for b in idle)
            while idle and total + nbytes > _OUTPUT_CACHE:
                drop = idle.pop(0)
                total -= drop.nbytes
                bases.remove(drop)
            del idle
            base = np.empty(nbytes, np.uint8)
            bases.append(base)
        out = base.view(dtype).reshape(shape)
    if zero:
        out.fill(0)
    return out


def _workers() -> int:
    n = _THREADS.get("n")
    if n is None:
        import os

        try:
            n = int(os.environ.get("COREFW_CPU_THREADS", "0"))
        except ValueError:
            n = 0
        if n < 1:
            n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
                os.cpu_count() or 1)
        _THREADS["n"] = n = max(1, min(n, 16))
    return n


def _blocks(work, c: int, n: int, size: int) -> None:
    """Run ``work(cs, ns)`` over blocks of the channel (else sample) axis, in parallel."""
    k = _workers()
    if k < 2 or size < _PARALLEL_MIN or max(c, n) < 2:
        work(slice(None), slice(None))
        return
    split_c = c >= k or c >= n
    m = min(k, c if split_c else n)
    edges = [(c if split_c else n) * i // m for i in range(m + 1)]
    parts = [(slice(edges[i], edges[i + 1]), slice(None)) if split_c else
             (slice(None), slice(edges[i], edges[i + 1])) for i in range(m)]
    pool = _THREADS.get("pool")
    if pool is None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        pool = _THREADS.setdefault("pool", ThreadPoolExecutor(k - 1, "corefw-cpu"))
        if hasattr(os, "register_at_fork"):  # a forked child has no workers: start afresh
            os.register_at_fork(after_in_child=lambda: _THREADS.pop("pool", None))
    futures = [pool.submit(work, *part) for part in parts[1:]]
    work(*parts[0])
    for f in futures:
        f.result()


_CONV_PARALLEL_MIN = 1 << 22  # elements; measured on 2 cores, OpenBLAS's spinning workers


def _split(work, c: int, n: int, size: int) -> None:
    """:func:`_blocks` for the conv and pooling kernels, which gain from threads only on big
    jobs: right after a GEMM, OpenBLAS's idle workers still spin on the other cores (the batch-64
    CNN step ran 6% slower with two threads on a 2-core machine)."""
    if size < _CONV_PARALLEL_MIN:
        work(slice(None), slice(None))
    else:
        _blocks(work, c, n, size)


def _span(n_out: int, n_in: int, off: int, s: int) -> tuple[int, int]:
    """Outputs ``o`` in [a, b) whose input index ``o * s + off`` lies in [0, n_in)."""
    a = max(0, (s - 1 - off) // s)
    b = min(n_out, (n_in - 1 - off) // s + 1) if n_in - 1 - off >= 0 else 0
    return a, max(a, b)


def _taps(in_hw, out_hw, kernel_size, stride, dilation, pad_tl):
    """For each kernel offset (i, j): the output rectangle it reaches (None if empty) and the
    strided input slices it reads."""
    (h, w), (ho, wo), (kh, kw), (sh, sw), (dh, dw), (pt, pl) = (
        in_hw, out_hw, kernel_size, stride, dilation, pad_tl)
    out = []
    for i in range(kh):
        oh = i * dh - pt
        a, b = _span(ho, h, oh, sh)
        for j in range(kw):
            ow = j * dw - pl
            c, e = _span(wo, w, ow, sw)
            if a < b and c < e:
                out.append((i, j, (a, b, c, e), (
                    slice(a * sh + oh, (b - 1) * sh + oh + 1, sh),
                    slice(c * sw + ow, (e - 1) * sw + ow + 1, sw))))
            else:
                out.append((i, j, None, None))
    return out


def _im2col(xt, kernel_size, stride, padding, dilation, out_hw):
    """(C, N, H, W) -> scratch (C, kh, kw, N, Ho, Wo); padding reads as zeros."""
    c, n, h, w = xt.shape
    ho, wo = out_hw
    cols = _scratch("cols", (c,) + tuple(kernel_size) + (n, ho, wo), xt.dtype)
    taps = _taps((h, w), out_hw, kernel_size, stride, dilation, (padding[0][0], padding[1][0]))

    def work(cs, ns):
        src_x = xt[cs, ns]
        for i, j, rect, src in taps:
            tap = cols[cs, i, j, ns]
            if rect is None:
                tap[...] = 0
                continue
            a, b, c0, e = rect
            tap[:, :, a:b, c0:e] = src_x[:, :, src[0], src[1]]
            if a > 0:
                tap[:, :, :a] = 0
            if b < ho:
                tap[:, :, b:] = 0
            if c0 > 0:
                tap[:, :, a:b, :c0] = 0
            if e < wo:
                tap[:, :, a:b, e:] = 0

    _split(work, c, n, cols.size)
    return cols


def _gemm(a, b, out=None):
    """``a @ b`` for (G, m, k) x (G, k, n) stacks, as one 2-D GEMM when G == 1."""
    if a.shape[0] == 1:
        return np.matmul(a[0], b[0], out=None if out is None else out[0])[None]
    return np.matmul(a, b, out=out)


def _chunks(n: int, per_sample: int) -> list[tuple[int, int]]:
    """Sample ranges whose im2col matrices fit the scratch limit (one range when all fit)."""
    step = max(1, _SCRATCH_MAX // max(per_sample, 1))
    return [(a, min(n, a + step)) for a in range(0, max(n, 1), step)]


def _conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    out_hw = tuple((size + lo + hi - d * (k - 1) - 1) // s + 1 for size, k, s, (lo, hi), d in
                   zip((h, wd), (kh, kw), stride, padding, dilation))
    if _use_dense(n, c, (h, wd), o, out_hw, (kh, kw), groups):
        dense = _dense_weight(w, (h, wd), out_hw, stride, padding, dilation)
        y = _output((n, o) + out_hw, np.result_type(x, w))
        np.matmul(_rows(x), dense, out=y.reshape(n, -1))
        if b is not None:
            y += b.reshape(o, 1, 1)
        return y
    k, cells = cg * kh * kw, out_hw[0] * out_hw[1]
    wm, xt = w.reshape(groups, o // groups, k), x.transpose(1, 0, 2, 3)
    parts = _chunks(n, c * kh * kw * cells * x.itemsize)
    y = _output((o, n) + out_hw, np.result_type(x, w))
    for a, e in parts:
        cols = _im2col(xt[:, a:e], (kh, kw), stride, padding, dilation, out_hw)
        if len(parts) == 1:
            _gemm(wm, cols.reshape(groups, k, n * cells), out=y.reshape(groups, o // groups, -1))
        else:
            y[:, a:e] = _gemm(wm, cols.reshape(groups, k, (e - a) * cells)).reshape(
                o, e - a, *out_hw)
    if b is not None:
        y += b.reshape(o, 1, 1, 1)
    return y.transpose(1, 0, 2, 3)


# Small images (the 8x8 digits, a CNN's last 4x4 maps): the convolution is one GEMM with its
# dense (C*H*W, O*Ho*Wo) matrix, built from the weight by one scatter. Its FLOPs exceed
# im2col's by H*W / (kh*kw), but it needs no im2col copies (whose rows are only a few elements
# long there) and reads the input in its own NCHW layout: 2-4x faster on such layers.
_DENSE_MAX = 1 << 21  # elements of the dense matrix
_DENSE_RATIO = 3  # at most this many times im2col's FLOPs
_DENSE_MIN_BATCH = 8  # below, building the matrix costs more than the copies it saves


def _use_dense(n, c, in_hw, o, out_hw, kernel_size, groups) -> bool:
    size = c * in_hw[0] * in_hw[1] * o * out_hw[0] * out_hw[1]
    return (groups == 1 and n >= _DENSE_MIN_BATCH and 0 < size <= _DENSE_MAX
            and in_hw[0] * in_hw[1] <= _DENSE_RATIO * kernel_size[0] * kernel_size[1])


@functools.lru_cache(maxsize=64)
def _dense_index(c, o, in_hw, out_hw, kernel_size, stride, padding, dilation):
    """Flat positions (in the dense matrix, in the weight) of the weight's copies."""
    (h, w), (ho, wo), (kh, kw) = in_hw, out_hw, kernel_size
    i, j, p, q = (a.ravel() for a in np.meshgrid(np.arange(kh), np.arange(kw), np.arange(ho),
                                                  np.arange(wo), indexing="ij"))
    ih = p * stride[0] - padding[0] + i * dilation[0]
    iw = q * stride[1] - padding[1] + j * dilation[1]
    ok = (ih >= 0) & (ih < h) & (iw >= 0) & (iw < w)  # taps on the padding read zeros
    i, j, p, q, ih, iw = (a[ok] for a in (i, j, p, q, ih, iw))
    cc, oo = np.arange(c)[:, None, None], np.arange(o)[None, :, None]
    dst = ((cc * h + ih) * w + iw) * (o * ho * wo) + (oo * ho + p) * wo + q
    src = ((oo * c + cc) * kh + i) * kw + j
    return dst.ravel(), src.ravel()


def _dense_weight(w, in_hw, out_hw, stride, padding, dilation):
    """The convolution as a (C*H*W, O*Ho*Wo) matrix (groups == 1)."""
    o, c, kh, kw = w.shape
    dst, src = _dense_index(c, o, in_hw, tuple(out_hw), (kh, kw), tuple(stride),
                            (padding[0][0], padding[1][0]), tuple(dilation))
    dense = np.zeros(c * in_hw[0] * in_hw[1] * o * out_hw[0] * out_hw[1], w.dtype)
    dense[dst] = w.reshape(-1)[src]
    return dense.reshape(c * in_hw[0] * in_hw[1], -1)


def _rows(x):
    """(N, C, H, W) -> (N, C*H*W), a view when x is C-contiguous."""
    return np.ascontiguousarray(x).reshape(x.shape[0], -1)


def _grad_rows(g, groups):
    """(N, O, Ho, Wo) -> (G, O/G, N*Ho*Wo), a view when g is in the channel-major layout."""
    n, o, ho, wo = g.shape
    return g.transpose(1, 0, 2, 3).reshape(groups, o // groups, n * ho * wo)


def _conv2d_grad_weight(x, g, kernel_size, stride, padding, dilation, groups):
    n, c = x.shape[:2]
    o, cells = g.shape[1], g.shape[2] * g.shape[3]
    k = c // groups * kernel_size[0] * kernel_size[1]
    xt, gw = x.transpose(1, 0, 2, 3), None
    for a, e in _chunks(n, c * kernel_size[0] * kernel_size[1] * cells * x.itemsize):
        cols = _im2col(xt[:, a:e], kernel_size, stride, padding, dilation, g.shape[2:])
        part = _gemm(_grad_rows(g[a:e], groups),
                     cols.reshape(groups, k, (e - a) * cells).transpose(0, 2, 1))
        gw = part if gw is None else gw + part
    return gw.reshape(o, c // groups, *kernel_size)


def _conv2d_grad_input(g, w, input_size, stride, padding, dilation, groups):
    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    c, k = cg * groups, cg * kh * kw
    if _use_dense(n, c, tuple(input_size), o, (ho, wo), (kh, kw), groups):
        dense = _dense_weight(w, tuple(input_size), (ho, wo), stride, padding, dilation)
        gx = _output((n, c) + tuple(input_size), np.result_type(g, w))
        np.matmul(_rows(g), dense.T, out=gx.reshape(n, -1))
        return gx
    wt = w.reshape(groups, o // groups, k).transpose(0, 2, 1)
    dtype = np.result_type(g, w)
    gx = _output((c, n) + tuple(input_size), dtype, zero=True)
    taps = _taps(input_size, (ho, wo), (kh, kw), stride, dilation, (padding[0][0],
                                                                  padding[1][0]))
    for a, e in _chunks(n, groups * k * ho * wo * dtype.itemsize):
        rows = _grad_rows(g[a:e], groups)
        cols = _gemm(wt, rows, out=_scratch("gcols", (groups, k, rows.shape[2]), dtype))
        cols = cols.reshape(c, kh, kw, e - a, ho, wo)
        chunk = gx[:, a:e]

        def work(cs, ns, cols=cols, chunk=chunk):
            dst_x = chunk[cs, ns]
            for i, j, rect, src in taps:
                if rect is not None:
                    view = dst_x[:, :, src[0], src[1]]
                    view += cols[cs, i, j, ns, rect[0]:rect[1], rect[2]:rect[3]]

        _split(work, c, e - a, cols.size)
    return gx.transpose(1, 0, 2, 3)


def _conv_kernels() -> dict:
    return {"conv2d": _conv2d, "conv2d_grad_input": _conv2d_grad_input,
            "conv2d_grad_weight": _conv2d_grad_weight}


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    from corefw.ops.nn_conv import pool_output_size

    return tuple(pool_output_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                 zip(x.shape[2:], kernel_size, stride, padding, dilation))


def _pool_pad(xt, kernel_size, stride, padding, dilation, out_hw, value):
    """Pad (C, N, H, W) by ``padding`` plus ceil_mode's overhang (no copy when neither)."""
    c, n, h, w = xt.shape
    need = [(o - 1) * s + d * (k - 1) + 1 for o, k, s, d in
            zip(out_hw, kernel_size, stride, dilation)]
    hp, wp = (max(need[0], h + 2 * padding[0]), max(need[1], w + 2 * padding[1]))
    if (hp, wp) == (h, w):
        return xt
    xp = np.full((c, n, hp, wp), value, xt.dtype)
    xp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = xt
    return xp


def _windows(kernel_size, stride, dilation, out_hw):
    """Index keys of the last two dims for each kernel offset, row-major."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_size, stride, dilation, out_hw
    return [(..., slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)) for i in range(kh) for j in range(kw)]


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    c, n = xp.shape[:2]
    out = _output((c, n) + out_hw, x.dtype)
    keys = _windows(kernel_size, stride, dilation, out_hw)

    def work(cs, ns):
        src, dst = xp[cs, ns], out[cs, ns]
        dst[...] = src[keys[0]]
        for key in keys[1:]:
            np.maximum(dst, src[key], out=dst)

    _split(work, c, n, x.size)
    return out.transpose(1, 0, 2, 3)


def _max_pool2d_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
    out_hw = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x, kernel_size, stride, padding, dilation, out_hw, _lowest(x.dtype))
    keys = _windows(kernel_size, stride, dilation, out_hw)
    k = np.stack([xp[key] for key in keys], axis=2).argmax(axis=2)
    kw = kernel_size[1]
    rows = (np.arange(out_hw[0]) * stride[0] - padding[0])[:, None]
    cols = np.arange(out_hw[1]) * stride[1] - padding[1]
    return ((rows + k // kw * dilation[0]) * x.shape[3] + cols + k % kw * dilation[1]).astype(
        np.int64)


def _max_pool2d_grad_input(x, out, g, kernel_size, stride, padding, dilation, ceil_mode):
    """Each window's gradient goes to its first maximum (PyTorch's choice on ties)."""
    h, w = x.shape[2:]
    out_hw = out.shape[2:]
    fast = _max_pool2d_grad_tiled(x, out, g, kernel_size, stride, padding, dilation)
    if fast is not None:
        return fast
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, dilation, out_hw,
                   _lowest(x.dtype))
    ot, gt = out.transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3)
    nan = ot.dtype.kind == "f" and bool(np.isnan(ot).any())
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation))
    tiled = all((k == 1 or d == 1) and s == d * (k - 1) + 1 and o * s == n for o, k, s, d, n
                in zip(out_hw, kernel_size, stride, dilation, xp.shape[2:]))  # xp covered once
    gxp = _output(xp.shape, g.dtype, zero=not tiled)
    keys = _windows(kernel_size, stride, dilation, out_hw)

    def work(cs, ns):
        src, o, gs, dst = xp[cs, ns], ot[cs, ns], gt[cs, ns], gxp[cs, ns]
        taken = None
        for idx, key in enumerate(keys):
            hit = np.equal(src[key], o)
            if nan:
                hit |= np.isnan(src[key])
            first = hit if taken is None else np.greater(hit, taken)  # hit, not yet taken
            if idx < len(keys) - 1:
                taken = hit if taken is None else np.logical_or(taken, hit, out=taken)
            if disjoint:
                np.multiply(gs, first, out=dst[key])
            else:
                dst[key] += gs * first

    _split(work, xp.shape[0], xp.shape[1], x.size)
    ph, pw = padding
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _max_pool2d_grad_tiled(x, out, g, kernel_size, stride, padding, dilation):
    """The common case, windows that tile the input (kernel == stride, no padding or dilation),
    where every window has one maximum: then the windows are axes of a reshaped view, and the
    gradient is one broadcast comparison and one product. None where that does not apply (or
    a window holds a tie or a NaN; the general path then picks the first maximum)."""
    (kh, kw), (ho, wo) = kernel_size, out.shape[2:]
    n, c, h, w = x.shape
    if (tuple(stride) != (kh, kw) or any(padding) or tuple(dilation) != (1, 1)
            or (ho * kh, wo * kw) != (h, w) or x.dtype.kind != "f"):
        return None
    # Work in the order the input is stored in (NCHW, or the conv kernels' channel-major).
    order = (1, 0, 2, 3) if not x.flags.c_contiguous and x.transpose(
        1, 0, 2, 3).flags.c_contiguous else (0, 1, 2, 3)
    xs = np.ascontiguousarray(x.transpose(order))
    lead = xs.shape[0] * xs.shape[1] * ho

    def up(a):  # (.., Ho, Wo) -> each value repeated over its window, as (lead * kh, W)
        a = np.ascontiguousarray(a.transpose(order)).reshape(-1)
        return np.repeat(np.repeat(a, kw).reshape(lead, w), kh, axis=0)

    # Copies with the windows spelled out beat broadcasting over the short window axes 3x.
    ot = out.transpose(order)
    if bool(np.isnan(ot).any()):
        return None
    hit = np.equal(xs.reshape(lead * kh, w), up(out))
    if np.count_nonzero(hit) != lead * wo:  # ties (all-zero windows after a ReLU)
        hit = _first_hits(hit.reshape(-1), kh, kw, w).reshape(hit.shape)
    gx = _output(xs.shape, np.result_type(g, x))
    np.multiply(hit, up(g), out=gx.reshape(lead * kh, w))
    return gx.transpose(order)


def _shift_and(a, s: int, mask, out):
    """``out = (a moved s places along its flat axis, False-filled) & mask``."""
    if s > 0:
        np.logical_and(a[:-s], mask[s:], out=out[s:])
        out[:s] = False
    else:
        np.logical_and(a[-s:], mask[:s], out=out[:s])
        out[s:] = False
    return out


@functools.lru_cache(maxsize=4)
def _window_masks(size: int, kh: int, kw: int, w: int) -> tuple:
    """Flat masks over windows laid out (lead, kh, Wo, kw): for s = 1 .. kw-1, "j >= s" and
    "j < kw - s" (j the column in the window); for t = 1 .. kh-1, "i >= t" (i the row)."""
    j = np.arange(w) % kw
    i = np.arange(kh)[:, None] + np.zeros(w, int)
    return ([np.tile(j >= s, size // w) for s in range(1, kw)],
            [np.tile(j < kw - s, size // w) for s in range(1, kw)],
            [np.tile((i >= t).reshape(-1), size // (kh * w)) for t in range(1, kh)])


def _first_hits(hit, kh: int, kw: int, w: int):
    """Of the maxima ``hit`` (flat, windows laid out (lead, kh, Wo, kw)), keep each window's
    first in row-major order, with whole-array shifts and cached masks: no loop over the short
    window axes (whose inner loops of 2-3 elements are what makes NumPy slow here)."""
    after, before, below = _window_masks(hit.size, kh, kw, w)
    left, tmp = np.zeros_like(hit), np.empty_like(hit)
    row = hit.copy()  # any hit in this window row
    for s in range(1, kw):
        left |= _shift_and(hit, s, after[s - 1], tmp)
        row |= _shift_and(hit, -s, before[s - 1], tmp)
    row |= left
    above = np.zeros_like(hit)
    for t in range(1, kh):
        above |= _shift_and(row, t * w, below[t - 1], tmp)
    left |= above
    return np.greater(hit, left, out=left)  # hit and not after another


def _avg_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, dtype):
    from corefw.ops.nn_conv import pool_divisor

    return pool_divisor(in_hw, out_hw, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override).astype(dtype)


def _avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                divisor_override):

    out_hw = _pool_geometry(x, kernel_size, stride, padding, (1, 1), ceil_mode)
    xp = _pool_pad(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, (1, 1), out_hw, 0)
    c, n = xp.shape[:2]
    out = _output((c, n) + out_hw, x.dtype)
    keys = _windows(kernel_size, stride, (1, 1), out_hw)
    div = _avg_divisor(x.shape[2:], out_hw, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override, out.dtype)

    def work(cs, ns):
        src, dst = xp[cs, ns], out[cs, ns]
        dst[...] = src[keys[0]]
        for key in keys[1:]:
            dst += src[key]
        dst /= div

    _split(work, c, n, x.size)
    return out.transpose(1, 0, 2, 3)


def _avg_pool2d_grad_input(g, input_size, kernel_size, stride, padding, ceil_mode,
                           count_include_pad, divisor_override):

    n, c, ho, wo = g.shape
    gd = g.transpose(1, 0, 2, 3) / _avg_divisor(input_size, (ho, wo), kernel_size, stride,
                                                padding, ceil_mode, count_include_pad,
                                                divisor_override, g.dtype)
    need = [(o - 1) * s + k for o, k, s in zip((ho, wo), kernel_size, stride)]
    hp, wp = (max(need[0], input_size[0] + 2 * padding[0]),
              max(need[1], input_size[1] + 2 * padding[1]))
    gxp = _output((c, n, hp, wp), gd.dtype, zero=True)
    keys = _windows(kernel_size, stride, (1, 1), (ho, wo))

    def work(cs, ns):
        src, dst = gd[cs, ns], gxp[cs, ns]
        for key in keys:
            dst[key] += src

    _split(work, c, n, gxp.size)
    (ph, pw), (h, w) = padding, input_size
    return gxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _pool_kernels() -> dict:
    return {"max_pool2d": _max_pool2d, "max_pool2d_indices": _max_pool2d_indices,
            "max_pool2d_grad_input": _max_pool2d_grad_input, "avg_pool2d": _avg_pool2d,
            "avg_pool2d_grad_input": _avg_pool2d_grad_input}
