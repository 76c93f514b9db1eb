"""Per-op NumPy templates of the cpu code generator (:mod:`corefw_cpu._codegen`).

A template turns one graph node into lines of Python that do what the node's kernel does,
with the same NumPy operations in the same order (so the same bits), but calling the ufuncs
directly and writing into the buffer the generator chose (``e.out``, a name bound to an array
preallocated at compile time) instead of a fresh array. ``e.out`` is ``None`` where the result
must be fresh on every call (it is returned to the caller, or its shape is not known when
compiling); a template then writes ``out=...`` (a fresh array, 0-d results included, as the
kernels return). A template returns ``None`` when it does not cover the node's arguments: the
generator then calls the kernel.

Kinds tell the generator how the result relates to memory:

* ``ew``: elementwise; the result may overwrite an operand that dies at this node.
* ``new``: computed into the output buffer, which must not overlap an operand.
* ``view``: a view of (or the same array as) the first operand; no buffer.
* ``mut``: writes into its operands (an optimizer step); its result aliases them.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from corefw.compiler import Value

from ._compile import cross_entropy_fwd_bwd, sgd_foreach_
from ._train import _ELEMENTWISE_PARALLEL_MIN, _sgd_step_

__all__ = ["TEMPLATES", "match", "same_kernel", "unwrap"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_SELECT_INT = {2: "int16", 4: "int32", 8: "int64"}


def _is_plus_zero(a) -> bool:
    import math

    return type(a) is int and a == 0 or type(a) is float and a == 0 and \
        math.copysign(1.0, a) > 0


def _ufunc(n, e):
    u = unwrap(n.kernel).func
    if n.kwargs or len(n.args) != u.nin or not all(
            isinstance(a, Value) or type(a) in (int, float, bool) for a in n.args):
        return None
    args = ", ".join(e.x(a) for a in n.args)
    return [f"{e.var} = {e.g(u, 'u_' + u.__name__)}({args}, out={e.out or '...'})"]


def _relu(n, e):
    (x,) = n.args
    return [f"{e.var} = {e.g(np.maximum, 'u_maximum')}({e.x(x)}, 0, out={e.out or '...'})"]


def _matmul(n, e):
    a, b = n.args
    if n.kwargs or not (isinstance(a, Value) and isinstance(b, Value)) or \
            a.shape is None or b.shape is None:
        return None
    if len(a.shape) == 2 and len(b.shape) == 2 and a.dtype in _FLOATS and b.dtype == a.dtype:
        # the kernel's ndarray.dot (the same gemm call), into the buffer
        out = f", out={e.out}" if e.out else ""
        return [f"{e.var} = {e.g(np.ndarray.dot, 'dot')}({e.x(a)}, {e.x(b)}{out})"]
    return [f"{e.var} = {e.g(np.matmul, 'u_matmul')}({e.x(a)}, {e.x(b)}, "
            f"out={e.out or '...'})"]


def _linear(n, e):
    x, w, b = n.args
    if n.kwargs or not isinstance(w, Value) or w.shape is None or len(w.shape) != 2:
        return None
    if isinstance(x, Value) and x.shape is not None and len(x.shape) == 2 and \
            x.dtype in _FLOATS and w.dtype == x.dtype:
        # two matrices: ndarray.dot, as the matmul kernel does (the same gemm call as
        # np.matmul's, with half its call overhead; tested bit for bit)
        out = f", out={e.out}" if e.out else ""
        lines = [f"{e.var} = {e.g(np.ndarray.dot, 'dot')}({e.x(x)}, {e.x(w)}.T{out})"]
    else:
        lines = [f"{e.var} = {e.g(np.matmul, 'u_matmul')}({e.x(x)}, {e.x(w)}.T, "
                 f"out={e.out or '...'})"]
    if b is not None:
        lines.append(f"{e.g(np.add, 'u_add')}({e.var}, {e.x(b)}, out={e.var})")
    return lines


def _permute(n, e):
    (x,) = n.args
    dims = tuple(n.kwargs["dims"])
    if e.static(x) and dims == tuple(range(len(x.shape))) and not e.escapes:
        return e.alias(x)
    if len(dims) == 2 and dims == (1, 0):
        return [f"{e.var} = {e.x(x)}.T"]
    return [f"{e.var} = {e.x(x)}.transpose({dims!r})"]


def _reshape(n, e):
    (x,) = n.args
    shape = n.kwargs["shape"]
    if e.static(x) and isinstance(shape, (tuple, list)) and \
            all(type(s) is int for s in shape) and tuple(shape) == x.shape and not e.escapes:
        return e.alias(x)
    return [f"{e.var} = {e.x(x)}.reshape({e.x(tuple(shape))})"]


def _expand(n, e):
    (x,) = n.args
    shape = n.kwargs["shape"]
    if e.static(x) and all(type(s) is int for s in shape) and tuple(shape) == x.shape and \
            not e.escapes:
        return e.alias(x)  # broadcast_to a shape it has: the same elements
    return None


def _reduce(ufunc):
    def template(n, e):
        (x,) = n.args
        if not isinstance(x, Value) or x.dtype not in _FLOATS or x.dtype != n.out.dtype:
            return None
        dim, keep = n.kwargs["dim"], n.kwargs["keepdim"]
        return [f"{e.var} = {e.g(ufunc.reduce, 'r_' + ufunc.__name__)}({e.x(x)}, "
                f"axis={e.x(dim)}, keepdims={keep!r}, out={e.out or '...'})"]
    return template


def _cast(n, e):
    (x,) = n.args
    if not e.out:
        return None
    return [f"{e.g(np.copyto, 'copyto')}({e.out}, {e.x(x)}, casting='unsafe')",
            f"{e.var} = {e.out}"]


def _where(n, e):
    """The kernel's one-pass select for ``where(c, x, +0.0)`` on a large float ``x`` (a
    relu's backward): ``x``'s bits times the mask; other forms call the kernel."""
    c, x, y = n.args
    if not (e.out and isinstance(c, Value) and isinstance(x, Value) and e.static(c) and
            e.static(x) and c.dtype == np.bool_ and x.dtype.kind == "f" and
            x.dtype == n.out.dtype and x.shape == n.out.shape and _is_plus_zero(y) and
            max(int(np.prod(x.shape)), int(np.prod(c.shape))) >= 1 << 10):
        return None
    it = _SELECT_INT[x.dtype.itemsize]
    return [f"{e.g(np.multiply, 'u_multiply')}({e.x(x)}.view({it!r}), {e.x(c)}, "
            f"out={e.out_view(it)})", f"{e.var} = {e.out}"]


def _softmax(n, e):
    (x,) = n.args
    dim = n.kwargs.get("dim")
    if not (e.out and isinstance(x, Value) and e.static(x) and x.dtype in _FLOATS and
            type(dim) is int):
        return None
    red = list(x.shape)
    red[dim] = 1
    t = e.scratch(tuple(red), x.dtype)
    mx, add = e.g(np.maximum.reduce, "r_maximum"), e.g(np.add.reduce, "r_add")
    sub, exp, div = (e.g(np.subtract, "u_subtract"), e.g(np.exp, "u_exp"),
                     e.g(np.true_divide, "u_divide"))
    o = e.out
    return [f"{mx}({e.x(x)}, axis={dim}, keepdims=True, out={t})",
            f"{sub}({e.x(x)}, {t}, out={o})", f"{exp}({o}, out={o})",
            f"{add}({o}, axis={dim}, keepdims=True, out={t})",
            f"{e.var} = {div}({o}, {t}, out={o})"]


_EXACT_COUNT = {"f": 1 << 24, "d": 1 << 53}  # batch sizes a float counts exactly


def _ce_fwd_bwd(n, e):
    """:func:`corefw_cpu._compile.cross_entropy_fwd_bwd` inline: its no-sample-ignored path
    (taken when ``min(t) > ignore_index``, which implies it), else the kernel. Three steps
    differ from the kernel's and give the same bits: ``sum / -n`` for ``-sum / n`` (division
    rounds sign-symmetrically), the one-hot subtraction ``e - eye[t]`` for ``e[rows, t] -= 1``
    (``e - 0.0 == e`` exactly: ``e`` is a softmax, never -0.0) and ``1.0 * (g / n)`` computed
    once when ``g`` is a constant."""
    x, t, g = n.args
    ii, red = n.kwargs["ignore_index"], n.kwargs["reduction"]
    if not (all(isinstance(a, Value) for a in (x, t, g)) and e.static(x) and e.static(t) and
            e.c(x) and
            x.dtype in _FLOATS and len(x.shape) == 2 and t.shape == x.shape[:1] and
            t.dtype.kind == "i" and g.shape == () and g.dtype == x.dtype and
            0 < x.shape[0] < _EXACT_COUNT[x.dtype.char] and red in ("mean", "sum") and
            type(ii) is int):
        return None
    (m, c), dt = x.shape, x.dtype
    mx, mn, add = (e.g(np.maximum.reduce, "r_maximum"), e.g(np.minimum.reduce, "r_minimum"),
                   e.g(np.add.reduce, "r_add"))
    sub, exp, log, div, mul, neg = (e.g(u, "u_" + u.__name__) for u in (
        np.subtract, np.exp, np.log, np.true_divide, np.multiply, np.negative))
    X, T, G = e.x(x), e.x(t), e.x(g)
    top, s, z = e.scratch((m, 1), dt), e.scratch((m, 1), dt), e.scratch((m, c), dt)
    buf = e.keep((m, c), dt, item=1)
    E = f"{e.var}_e"  # a local name: assigning a global buffer name would shadow it
    count = e.g(dt.type(m), "n")
    rows = np.arange(m)
    rows.flags.writeable = False
    eye = np.eye(c, dtype=dt)
    eye.flags.writeable = False
    rows, eye = e.g(rows, "rows"), e.g(eye, "eye")
    if red == "mean":  # -(s) / n == s / -n exactly (division rounds sign-symmetrically)
        loss = f"{div}({add}({z}[{rows}, {T}]), {e.g(dt.type(-m), 'n')}, out=...)"
    else:
        loss = f"{e.g(np.asarray, 'asarray')}({neg}({add}({z}[{rows}, {T}])), " \
            f"dtype={e.g(dt, 'dt')})"
    gv = e.const_value(g)
    if gv is not None:  # the usual upstream gradient, 1: the coefficient once
        coef = e.g(np.multiply(1.0, np.divide(gv, dt.type(m), out=...) if red == "mean"
                               else gv, out=...), "coef")
    else:
        coef = f"{mul}(1.0, {f'{div}({G}, {count}, out=...)' if red == 'mean' else G}, out=...)"
    k = e.g(n.kernel, "k")
    return [f"{mx}({X}, axis=1, keepdims=True, out={top})", f"{sub}({X}, {top}, out={z})",
            f"{E} = {exp}({z}, out={buf or '...'})",
            f"{add}({E}, axis=1, keepdims=True, out={s})", f"{log}({s}, out={top})",
            f"{sub}({z}, {top}, out={z})",
            f"if {mn}({T}) > {ii}:",
            f"    {e.var}_l = {loss}",
            f"    {div}({E}, {s}, out={E})", f"    {sub}({E}, {eye}[{T}], out={E})",
            f"    {mul}({E}, {coef}, out={E})", f"    {e.var} = ({e.var}_l, {E})",
            "else:", f"    {e.var} = {k}({X}, {T}, {G}, ignore_index={ii!r}, "
            f"reduction={red!r})"]


def _sgd_lines(e, p, g, b, attrs) -> list[str] | None:
    """One parameter's update, as ``_sgd_step_``'s small-tensor path does it."""
    if attrs["weight_decay"] != 0 or attrs["maximize"] or attrs["nesterov"] or \
            attrs["dampening"] != 0 or p.shape is None or p.shape != g.shape or \
            int(np.prod(p.shape)) >= _ELEMENTWISE_PARALLEL_MIN or p.dtype != g.dtype:
        return None
    lr, mom = attrs["lr"], attrs["momentum"]
    if type(lr) is not float or type(mom) not in (int, float):
        return None
    mul, add = e.g(np.multiply, "u_multiply"), e.g(np.add, "u_add")
    # the step's temporary: the gradient's own buffer once it has been read (in cache), else
    # a scratch buffer
    t = (mom and e.dying(g)) or (e.scratch(p.shape, p.dtype) if e.static(p) else None)
    step = (f"{add}({e.x(p)}, {mul}({e.x(b) if mom else e.x(g)}, {-lr!r}, "
            f"out={t or '...'}), out={e.x(p)})")
    if mom == 0:
        return [step]
    if b.shape != p.shape or b.dtype != p.dtype:
        return None
    if attrs["is_first_step"]:
        first = [f"{e.g(np.copyto, 'copyto')}({e.x(b)}, {e.x(g)})"]
    else:
        first = [f"{mul}({e.x(b)}, {mom!r}, out={e.x(b)})", f"{add}({e.x(b)}, {e.x(g)}, "
                 f"out={e.x(b)})"]
    return first + [step]


def _sgd_step(n, e):
    p, g, b = n.args
    if not all(isinstance(a, Value) for a in (p, g, b)):
        return None
    lines = _sgd_lines(e, p, g, b, n.kwargs)
    return None if lines is None else lines + [f"{e.var} = {e.x(p)}"]


def _sgd_foreach(n, e):
    params, grads, bufs = n.args
    lines: list[str] = []
    for p, g, b in zip(params, grads, bufs):
        one = _sgd_lines(e, p, g, b, n.kwargs) if all(
            isinstance(a, Value) for a in (p, g, b)) else None
        if one is None:  # this parameter as the kernel does it
            attrs = ", ".join(f"{k}={e.x(v)}" for k, v in n.kwargs.items())
            one = [f"{e.g(_sgd_step_, 'sgd_step_')}({e.x(p)}, {e.x(g)}, {e.x(b)}, {attrs})"]
        lines += one
    return lines + [f"{e.var} = None"]


#: op name -> (kind, template) for nodes whose kernel is the cpu backend's own for the op.
TEMPLATES = {
    "relu": ("ew", _relu), "matmul": ("new", _matmul), "linear": ("new", _linear),
    "permute": ("view", _permute), "reshape": ("view", _reshape), "expand": ("view", _expand),
    "sum": ("new", _reduce(np.add)), "amax": ("new", _reduce(np.maximum)),
    "amin": ("new", _reduce(np.minimum)), "prod": ("new", _reduce(np.multiply)),
    "cast": ("new", _cast), "where": ("new", _where), "softmax": ("new", _softmax),
    "sgd_step_": ("mut", _sgd_step),
}
_OWN = {cross_entropy_fwd_bwd: ("new", _ce_fwd_bwd), sgd_foreach_: ("mut", _sgd_foreach)}


def unwrap(k):
    """The kernel under corefw-cpu's bfloat16 wrapper (installed on every kernel once
    bfloat16 is used; templates only run on NumPy's own dtypes, where it passes through)."""
    return getattr(k, "__wrapped__", k)


def same_kernel(a, b) -> bool:
    """Whether ``a`` and ``b`` are the same kernel, wrapped or not."""
    return a is not None and unwrap(a) is unwrap(b)


def match(node, table: dict):
    """``(kind, template)`` for ``node``, or None (the generator calls its kernel)."""
    k = unwrap(node.kernel)
    if k is None:
        return None
    if k.__class__ is partial and isinstance(k.func, np.ufunc) and not k.args and \
            k.keywords == {"out": ...}:
        return "ew", _ufunc
    own = _OWN.get(k)
    if own is not None:
        return own
    found = TEMPLATES.get(node.op)
    if found is not None and same_kernel(table.get(node.op), k):
        return found
    return None
