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
        x2d = _operand_2d(x)  # a batch-last input (a pooled map) is read as it is
        dense = _dense_weight(w, (h, wd), out_hw, stride, padding, dilation)
        y = _output((n, o) + out_hw, np.result_type(x, w))
        np.matmul(x2d.T, dense, out=y.reshape(n, -1))
        if b is not None:
            y += b.reshape(o, 1, 1)
        return y
    if groups == 1 and _batch_last(n, (h, wd)):
        return _conv2d_bl(x, w, b, stride, padding, dilation, out_hw)
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


_DENSE_CACHE: dict = {}  # geometry -> (weight bytes, their dense matrix)


def _dense_weight(w, in_hw, out_hw, stride, padding, dilation):
    """The convolution as a read-only (C*H*W, O*Ho*Wo) matrix (groups == 1). The last matrix
    built per geometry is kept with a copy of its weight and reused while the weight's values
    are equal (a comparison of the small weight, not of the matrix): forward and backward, and
    the chunks of an explainer, then build it once."""
    o, c, kh, kw = w.shape
    key = (w.shape, w.dtype.str, tuple(in_hw), tuple(out_hw), tuple(stride),
           (padding[0][0], padding[1][0]), tuple(dilation))
    hit, raw = _DENSE_CACHE.get(key), w.tobytes()  # bytes: -0.0 and NaNs count as they are
    if hit is not None and hit[0] == raw:
        return hit[1]
    dst, src = _dense_index(c, o, tuple(in_hw), tuple(out_hw), (kh, kw), tuple(stride),
                            (padding[0][0], padding[1][0]), tuple(dilation))
    dense = np.zeros(c * in_hw[0] * in_hw[1] * o * out_hw[0] * out_hw[1], w.dtype)
    dense[dst] = w.reshape(-1)[src]
    dense = dense.reshape(c * in_hw[0] * in_hw[1], -1)
    dense.flags.writeable = False
    if len(_DENSE_CACHE) >= 16:  # a bounded cache: drop the oldest geometry
        _DENSE_CACHE.pop(next(iter(_DENSE_CACHE)))
    _DENSE_CACHE[key] = (raw, dense)
    return dense


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
        if _batch_last(n, tuple(input_size)):
            return _conv2d_dense_grad_input_bl(g, w, tuple(input_size), stride, padding,
                                               dilation)
        dense = _dense_weight(w, tuple(input_size), (ho, wo), stride, padding, dilation)
        gx = _output((n, c) + tuple(input_size), np.result_type(g, w))
        np.matmul(_rows(g), dense.T, out=gx.reshape(n, -1))
        return gx
    if groups == 1 and _batch_last(n, tuple(input_size)) and _bl(g) is not None:
        # (a gradient in another layout would cost a transposing copy: 2x slower)
        return _conv2d_grad_input_bl(g, w, tuple(input_size), stride, padding, dilation)
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


# Small images in big batches (the 8x8 digits and their 4x4 maps, an explainer's 1600 rows):
# in (C, N, H, W) every im2col copy, col2im add and pooling window is a NumPy loop over rows of
# a few elements. There the kernels store results batch-last, as a C-contiguous (C, H, W, N)
# array returned as its (N, C, H, W) view ``transpose(3, 0, 1, 2)``: the copies and windows
# then run over whole rows of N (or W*N) elements, the GEMMs stay single calls (K, Ho*Wo*N),
# and the dense matrix reads the layout as it is (its rows are (c, h, w) in both layouts).
_BL_MIN_BATCH = 64
_BL_MAX_HW = 256  # input or output pixels


def _batch_last(n, hw) -> bool:
    return n >= _BL_MIN_BATCH and hw[0] * hw[1] <= _BL_MAX_HW


def _bl(x):
    """The (C, H, W, N) array behind ``x`` (N, C, H, W) in the batch-last layout, else None."""
    s = x.transpose(1, 2, 3, 0)
    return s if s.flags.c_contiguous else None


def _as_bl(x):
    """``x`` (N, C, H, W) as a C-contiguous (C, H, W, N) array (a copy unless batch-last)."""
    s = x.transpose(1, 2, 3, 0)
    return s if s.flags.c_contiguous else np.ascontiguousarray(s)


def _reach(n_out, k, s, d) -> int:
    """Padded input extent the windows of ``n_out`` outputs touch."""
    return (n_out - 1) * s + d * (k - 1) + 1 if n_out > 0 else 0


def _im2col_bl(x, kernel_size, stride, padding, dilation, out_hw, ones: bool = False):
    """x (N, C, H, W) -> scratch (C*kh*kw, Ho*Wo*N) (rows (c, i, j)); padding reads as zeros.
    With ``ones`` a last row of ones follows (the bias as a column of the weight: one pass
    over the result fewer)."""
    n, c, h, w = x.shape
    (kh, kw), (ho, wo), (sh, sw), (dh, dw) = kernel_size, out_hw, stride, dilation
    (pt, _), (pl, _) = padding
    hp = max(pt + h, _reach(ho, kh, sh, dh))
    wp = max(pl + w, _reach(wo, kw, sw, dw))
    xb = _bl(x)
    if xb is None or (hp, wp, pt, pl) != (h, w, 0, 0):
        xp = _scratch("xpad", (c, hp, wp, n), x.dtype)
        xp.fill(0)
        xp[:, pt:pt + h, pl:pl + w] = x.transpose(1, 2, 3, 0)
    else:
        xp = xb
    k = c * kh * kw
    mat = _scratch("cols", (k + ones, ho * wo * n), x.dtype)
    cols = mat[:k].reshape(c, kh, kw, ho, wo, n)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            cols[:, i, j] = xp[:, rows, j * dw:j * dw + sw * (wo - 1) + 1:sw]
    if ones:
        mat[k] = 1
    return mat


def _conv2d_bl(x, w, b, stride, padding, dilation, out_hw):
    """Convolution (groups 1) by im2col in the batch-last layout: one GEMM."""
    n = x.shape[0]
    o, c, kh, kw = w.shape
    (ho, wo), k = out_hw, c * kh * kw
    dtype = np.result_type(x, w)  # the bias is added in the result's dtype, as before
    cols = _im2col_bl(x.astype(dtype, copy=False), (kh, kw), stride, padding, dilation,
                      out_hw, ones=b is not None)
    wm = w.reshape(o, k) if b is None else np.concatenate([w.reshape(o, k), b.reshape(o, 1)],
                                                          1, dtype=dtype)
    y = _output((o, ho, wo, n), dtype)
    np.matmul(wm, cols, out=y.reshape(o, -1))
    return y.transpose(3, 0, 1, 2)


def _conv2d_grad_input_bl(g, w, input_size, stride, padding, dilation):
    """The gradient to the input (groups 1) in the batch-last layout: one GEMM, then each
    tap's rows added to the strided input rows it came from."""
    n, o, ho, wo = g.shape
    _, c, kh, kw = w.shape
    (h, wd), (sh, sw), (dh, dw), k = input_size, stride, dilation, c * kh * kw
    (pt, _), (pl, _) = padding
    dtype = np.result_type(g, w)
    cols = _scratch("gcols", (k, ho * wo * n), dtype)
    np.matmul(w.reshape(o, k).T, _as_bl(g).reshape(o, -1), out=cols)
    cols = cols.reshape(c, kh, kw, ho, wo, n)
    hp = max(pt + h, _reach(ho, kh, sh, dh))
    wp = max(pl + wd, _reach(wo, kw, sw, dw))
    gxp = _scratch("gxpad", (c, hp, wp, n), dtype)
    gxp.fill(0)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            gxp[:, rows, j * dw:j * dw + sw * (wo - 1) + 1:sw] += cols[:, i, j]
    gx = _output((c, h, wd, n), dtype)
    gx[...] = gxp[:, pt:pt + h, pl:pl + wd]
    return gx.transpose(3, 0, 1, 2)


def _operand_2d(x):
    """``x`` (N, C, H, W) as a (C*H*W, N) matrix, rows (c, h, w): a view of a batch-last or
    an NCHW array (BLAS takes the transposed operand), so the dense GEMMs read either layout
    without a copy."""
    xb = _bl(x)
    return xb.reshape(-1, x.shape[0]) if xb is not None else _rows(x).T


def _conv2d_dense_grad_input_bl(g, w, input_size, stride, padding, dilation):
    """The dense-matrix gradient to the input with a batch-last result: (C*H*W, N) = D g."""
    n, c, (h, wd) = g.shape[0], w.shape[1], input_size
    dense = _dense_weight(w, input_size, g.shape[2:], stride, padding, dilation)
    gx = _output((c, h, wd, n), np.result_type(g, w))
    np.matmul(dense, _operand_2d(g), out=gx.reshape(-1, n))
    return gx.transpose(3, 0, 1, 2)


def _conv_kernels() -> dict:
    return {"conv2d": _conv2d, "conv2d_grad_input": _conv2d_grad_input,
            "conv2d_grad_weight": _conv2d_grad_weight}


def _pool_kernels() -> dict:
    from ._pool import pool_kernels  # the pooling kernels share this module's buffers

    return pool_kernels()
