"""Fast NumPy kernels for composite ops (conv, pooling, norms ...), beyond the toolkit's."""

from __future__ import annotations


def fast_kernels() -> dict:
    """Kernel table additions; each must match its op's decomposition (the kit checks)."""
    kernels = {}
    kernels.update(_ufunc_kernels())
    kernels.update(_reduction_kernels())
    kernels.update(_conv_kernels())
    kernels.update(_pool_kernels())
    kernels.update(_norm_kernels())
    kernels.update(_loss_kernels())
    kernels.update(_layer_kernels())
    kernels.update(_train_kernels())
    return kernels


_UFUNCS = {
    "neg": "negative", "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "abs": "absolute", "sign": "sign", "floor": "floor", "ceil": "ceil",
    "bitwise_not": "invert", "add": "add", "sub": "subtract", "mul": "multiply",
    "div": "true_divide", "pow": "power", "maximum": "maximum", "minimum": "minimum",
    "floor_divide": "floor_divide", "remainder": "remainder", "eq": "equal", "ne": "not_equal",
    "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
    "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
    "log1p": "log1p", "expm1": "expm1", "tan": "tan", "where": None,
}


def _ufunc_kernels() -> dict:
    """The ufuncs themselves, called from C through ``functools.partial``: ``out=...``
    (NumPy >= 2.3) makes a 0-d result an array instead of a NumPy scalar, with no Python
    wrapper on the hot path."""
    from functools import partial

    import numpy as np

    out = {name: partial(getattr(np, ufunc), out=...) for name, ufunc in _UFUNCS.items()
           if ufunc}
    out["relu"] = _relu
    return out


def _relu(x):
    import numpy as np

    return np.maximum(x, 0, out=...)


def _reduction_kernels() -> dict:
    """``ufunc.reduce`` skips numpy's Python-level wrappers (3x faster on small arrays)."""
    import numpy as np

    def red(ufunc):
        def kernel(x, dim, keepdim):
            r = ufunc.reduce(x, axis=dim, keepdims=keepdim)
            return r if r.__class__ is np.ndarray else np.asarray(r)
        return kernel

    return {"sum": red(np.add), "prod": red(np.multiply), "amax": red(np.maximum),
            "amin": red(np.minimum)}


# -- convolution and pooling -------------------------------------------------------------------
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
    import math
    import threading

    import numpy as np

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
    import math
    import sys
    import threading

    import numpy as np

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
    import numpy as np

    if a.shape[0] == 1:
        return np.matmul(a[0], b[0], out=None if out is None else out[0])[None]
    return np.matmul(a, b, out=out)


def _chunks(n: int, per_sample: int) -> list[tuple[int, int]]:
    """Sample ranges whose im2col matrices fit the scratch limit (one range when all fit)."""
    step = max(1, _SCRATCH_MAX // max(per_sample, 1))
    return [(a, min(n, a + step)) for a in range(0, max(n, 1), step)]


def _conv2d(x, w, b, stride, padding, dilation, groups):
    import numpy as np

    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    out_hw = tuple((size + lo + hi - d * (k - 1) - 1) // s + 1 for size, k, s, (lo, hi), d in
                   zip((h, wd), (kh, kw), stride, padding, dilation))
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
    import numpy as np

    n, o, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    c, k = cg * groups, cg * kh * kw
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
    import numpy as np

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
    import numpy as np

    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode):
    import numpy as np

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
    import numpy as np

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
    import numpy as np

    h, w = x.shape[2:]
    out_hw = out.shape[2:]
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


# -- normalisation -----------------------------------------------------------------------------
def _normalize(xv, axes, eps):
    import numpy as np

    mean = xv.mean(axis=axes, keepdims=True)
    xc = xv - mean
    var = np.mean(np.square(xc), axis=axes, keepdims=True)
    xc *= 1 / np.sqrt(var + eps)
    return xc


def _affine(y, w, b, shape):
    if w is not None:
        y *= w.reshape(shape)
    if b is not None:
        y += b.reshape(shape)
    return y


def _batch_norm(x, w, b, eps):
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return _affine(_normalize(x, (0,) + tuple(range(2, x.ndim)), eps), w, b, shape)


def _layer_norm(x, w, b, ndim, eps):
    return _affine(_normalize(x, tuple(range(x.ndim - ndim, x.ndim)), eps), w, b,
                   x.shape[x.ndim - ndim:])


def _group_norm(x, w, b, num_groups, eps):
    y = _normalize(x.reshape(x.shape[0], num_groups, -1), (2,), eps).reshape(x.shape)
    return _affine(y, w, b, (1, x.shape[1]) + (1,) * (x.ndim - 2))


def _norm_kernels() -> dict:
    return {"batch_norm": _batch_norm, "layer_norm": _layer_norm, "group_norm": _group_norm}


# -- losses over class indices -----------------------------------------------------------------
# Same arithmetic, in the same order, as the decompositions in corefw/ops/nn_loss.py.
def _class_weights(t, weight, ignore_index, dtype):
    import numpy as np

    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = keep.astype(dtype) if weight is None else np.where(keep, weight[safe], 0).astype(dtype)
    return safe, w, keep


def _loss_reduce(per, w, reduction):
    import numpy as np

    if reduction == "none":
        return per
    total = per.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / w.sum()  # NaN when every sample is ignored, as PyTorch
    return np.asarray(total, dtype=per.dtype)


def _nll_loss(logp, t, weight, ignore_index, reduction):
    import numpy as np

    safe, w, _ = _class_weights(t, weight, ignore_index, logp.dtype)
    return _loss_reduce(-logp[np.arange(t.shape[0]), safe] * w, w, reduction)


def _cross_entropy(x, t, weight, ignore_index, label_smoothing, reduction):
    import numpy as np

    logp = x - x.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    nll = _nll_loss(logp, t, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    _, w, keep = _class_weights(t, weight, ignore_index, x.dtype)
    smooth = -(logp * weight).sum(axis=1) if weight is not None else -logp.sum(axis=1)
    smooth = _loss_reduce(np.where(keep, smooth, 0).astype(x.dtype), w, reduction)
    return np.asarray((1 - label_smoothing) * nll + smooth * (label_smoothing / x.shape[1]),
                      dtype=x.dtype)


def _binary_cross_entropy(x, t):
    import numpy as np

    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(x), -100.0) + (1 - t) * np.maximum(np.log(1 - x), -100.0))


def _loss_kernels() -> dict:
    return {"nll_loss": _nll_loss, "cross_entropy": _cross_entropy,
            "binary_cross_entropy": _binary_cross_entropy}


# -- embedding, dropout, attention (decompositions in corefw/ops/nn_misc.py) -------------------
def _embedding(weight, indices, padding_idx, scale_grad_by_freq):
    import numpy as np

    return np.take(weight, indices, axis=0)


def _dropout(x, noise, p):
    import numpy as np

    return np.where(noise >= p, x * (1.0 / (1.0 - p)), x.dtype.type(0))


def _sdpa(q, k, v, mask, scale, is_causal):
    import numpy as np

    s = np.matmul(q, np.swapaxes(k, -1, -2))
    s *= scale
    if is_causal:
        n_q, n_k = s.shape[-2:]
        s = np.where(np.arange(n_k)[None, :] <= np.arange(n_q)[:, None], s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    with np.errstate(invalid="ignore"):  # rows with every key masked give NaN, as PyTorch
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s, v)


def _layer_kernels() -> dict:
    return {"embedding": _embedding, "dropout": _dropout, "scaled_dot_product_attention": _sdpa}


# -- training: linear layers and fused optimizer updates ---------------------------------------
# The updates follow the decompositions in corefw/ops/inplace.py operation by operation (same
# order, same scalar operands), so their results are bit-identical; they differ in working in
# place (no version bumps or copies between the steps) and in running large tensors in parallel
# blocks of the thread pool above. (SciPy's BLAS ``axpy`` would do SGD's update in one pass, but
# it brings a second OpenBLAS thread pool whose idle workers spin beside NumPy's.)
def _linear(x, w, b):
    import numpy as np

    out = np.matmul(x, w.T)
    if b is not None:
        out += b
    return out


_ELEMENTWISE_PARALLEL_MIN = 1 << 20  # elements; below, a pool round trip (~50 µs) costs more
# than half a memory-bound pass saves


def _elementwise_blocks(update, arrays: list) -> None:
    """Run ``update(*pieces)`` on matching flat blocks of ``arrays`` (None entries pass
    through), in parallel for large contiguous arrays; elementwise, so results do not depend
    on the split."""
    size = arrays[0].size
    if size < _ELEMENTWISE_PARALLEL_MIN or _workers() < 2 or not all(
            a is None or a.flags.c_contiguous for a in arrays):
        update(*arrays)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    _blocks(lambda part, _: update(*(None if a is None else a[part] for a in flat)), size, 1,
            size)  # (_blocks splits above its own, lower, threshold)


def _sgd_step_(param, grad, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
               is_first_step):
    import numpy as np

    if momentum == 0 and weight_decay == 0 and not maximize and (
            param.size < _ELEMENTWISE_PARALLEL_MIN):
        param += np.multiply(grad, -lr)  # the common small case, without a closure
        return param

    def update(p, g, b):
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = np.add(g, np.multiply(p, weight_decay))
        if momentum != 0:
            if is_first_step:
                b[...] = g
            else:
                b *= momentum
                b += np.multiply(g, 1 - dampening)
            g = np.add(g, np.multiply(b, momentum)) if nesterov else b
        p += np.multiply(g, -lr)

    _elementwise_blocks(update, [param, grad, buf])
    return param


def _adam_step_(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
                decoupled, maximize, step):
    import numpy as np

    bc2_sqrt = (1 - beta2**step) ** 0.5
    value = -lr / (1 - beta1**step)

    def update(p, g, m, v):
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            if decoupled:
                p *= 1 - lr * weight_decay
            else:
                g = np.add(g, np.multiply(p, weight_decay))
        m *= beta1
        tmp = np.multiply(g, 1 - beta1, out=...)  # an array also for 0-d tensors
        m += tmp
        v *= beta2
        np.multiply(g, 1 - beta2, out=tmp)
        tmp *= g
        v += tmp
        denom = np.sqrt(v, out=...)
        denom /= bc2_sqrt
        denom += eps
        np.multiply(m, value, out=tmp)
        tmp /= denom
        p += tmp

    _elementwise_blocks(update, [param, grad, exp_avg, exp_avg_sq])
    return param


def _cross_entropy_grad(x, t, weight, g, ignore_index, label_smoothing, reduction):
    """d cross_entropy / d x, the arithmetic of ``_ce_grad_decomp`` in corefw/ops/nn_loss.py
    in one pass over the (M, C) logits instead of fifteen ops."""
    import numpy as np

    safe, w, keep = _class_weights(t, weight, ignore_index, x.dtype)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            c = g / w.sum()
    else:
        c = g
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = p.copy() if label_smoothing else p
    grad[np.arange(x.shape[0]), safe] -= 1
    grad *= ((1 - label_smoothing) * c * w)[:, None]
    if label_smoothing:
        n_classes = x.shape[1]
        b = (np.where(keep, c, 0.0) * (label_smoothing / n_classes)).astype(x.dtype)[:, None]
        total = n_classes if weight is None else weight.sum()
        grad += b * (p * total - (1 if weight is None else weight))
    return grad


_SELECT_MIN = 1 << 13  # elements; np.where is as fast below this
_SELECT_INT = {2: "int16", 4: "int32", 8: "int64"}


def _is_plus_zero(v) -> bool:
    if v.__class__ is int:
        return v == 0
    if v.__class__ is float and v == 0:
        import math

        return math.copysign(1.0, v) > 0
    return False


def _where(cond, x, y):
    """``np.where(cond, x, y)``, bit for bit, without branches for large float operands (a
    relu's backward, masked losses): NumPy's loop branches per element, and a random mask
    mispredicts half of them (10x slower than a bitwise select on 10^6 elements)."""
    import numpy as np

    a = x if x.__class__ is np.ndarray else y
    other = y if a is x else x
    if not (cond.__class__ is np.ndarray and cond.dtype == np.bool_ and a.__class__ is np.ndarray
            and a.dtype.kind == "f" and max(a.size, cond.size) >= _SELECT_MIN
            and (_is_plus_zero(other) or other.__class__ is np.ndarray and other.dtype == a.dtype)):
        out = np.where(cond, x, y)
        return out if out.__class__ is np.ndarray else np.asarray(out)
    it = _SELECT_INT[a.dtype.itemsize]
    m = cond.astype(it)  # 1 where cond, in cond's memory order
    np.negative(m, out=m) if a is x else np.subtract(m, 1, out=m)  # all ones where a is taken
    if other.__class__ is np.ndarray:
        ob = other.view(it)
        r = np.bitwise_and(np.bitwise_xor(a.view(it), ob), m)  # every operand may broadcast
        r ^= ob
    else:
        r = np.bitwise_and(a.view(it), m, out=m if m.shape == a.shape else None)
    return r.view(a.dtype)


def _train_kernels() -> dict:
    return {"linear": _linear, "sgd_step_": _sgd_step_, "adam_step_": _adam_step_,
            "cross_entropy_grad": _cross_entropy_grad, "where": _where}
