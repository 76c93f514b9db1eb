"""Training kernels: fused linear layers and optimizer updates, cross-entropy's gradient and a
branch-free ``where``."""

from __future__ import annotations

import numpy as np

from . import _conv, _layers


# The updates follow the decompositions in corefw/ops/inplace.py operation by operation (same
# order, same scalar operands), so their results are bit-identical; they differ in working in
# place (no version bumps or copies between the steps) and in running large tensors in parallel
# blocks of the thread pool above. (SciPy's BLAS ``axpy`` would do SGD's update in one pass, but
# it brings a second OpenBLAS thread pool whose idle workers spin beside NumPy's.)
def _linear(x, w, b):
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
    if size < _ELEMENTWISE_PARALLEL_MIN or _conv._workers() < 2 or not all(
            a is None or a.flags.c_contiguous for a in arrays):
        update(*arrays)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    _conv._blocks(lambda part, _: update(*(None if a is None else a[part] for a in flat)), size, 1,
            size)  # (_blocks splits above its own, lower, threshold)


def _sgd_step_(param, grad, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
               is_first_step):
    if weight_decay == 0 and not maximize and param.size < _ELEMENTWISE_PARALLEL_MIN:
        # the common small cases, without a closure (same operations as ``update``)
        if momentum == 0:
            param += np.multiply(grad, -lr)
            return param
        if not nesterov:
            if is_first_step:
                buf[...] = grad
            else:
                buf *= momentum
                buf += grad if dampening == 0 else np.multiply(grad, 1 - dampening)  # g*1 == g
            param += np.multiply(buf, -lr)
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
    safe, w, keep = _layers._class_weights(t, weight, ignore_index, x.dtype)
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
_SELECT_ZERO_MIN = 1 << 10  # ... and below this when the other operand is +0.0
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
    a = x if x.__class__ is np.ndarray else y
    other = y if a is x else x
    zero = _is_plus_zero(other)
    if not (cond.__class__ is np.ndarray and cond.dtype == np.bool_ and a.__class__ is np.ndarray
            and a.dtype.kind == "f" and max(a.size, cond.size) >= (
                _SELECT_ZERO_MIN if zero else _SELECT_MIN)
            and (zero or other.__class__ is np.ndarray and other.dtype == a.dtype)):
        out = np.where(cond, x, y)
        return out if out.__class__ is np.ndarray else np.asarray(out)
    it = _SELECT_INT[a.dtype.itemsize]
    if zero:  # a's bits times 1 or 0 (+0.0's bits): one pass (a relu's backward)
        return np.multiply(a.view(it), cond if a is x else np.logical_not(cond)).view(a.dtype)
    m = cond.astype(it)  # 1 where cond, in cond's memory order
    np.negative(m, out=m) if a is x else np.subtract(m, 1, out=m)  # all ones where a is taken
    ob = other.view(it)
    r = np.bitwise_and(np.bitwise_xor(a.view(it), ob), m)  # every operand may broadcast
    r ^= ob
    return r.view(a.dtype)


def _train_kernels() -> dict:
    return {"linear": _linear, "sgd_step_": _sgd_step_, "adam_step_": _adam_step_,
            "cross_entropy_grad": _cross_entropy_grad, "where": _where}
