"""Cases for the public functions built on the ops (``mean``, ``var``, ``norm``, ``flatten``,
``roll``, ``tril``, ``stack``, the pad modes, ``mm`` ...): each row calls the function and must
reach the kernel of the op it is filed under, so a backend that breaks a function's path is
caught where it breaks (``case.name`` is the function, ``case.op`` the kernel)."""

from __future__ import annotations

import math

import numpy as np

import corefw

from . import reference as R
from .cases import OpCase, Sample, register_case
from .cases import values as V


def fcase(op, name, variants, fn, ref, *, kinds="f", domain="any", grad=(0,), out_dtype=None,
          tol=1.0, gradgrad=False, forward_only=()):
    """A one-input case of function ``name``; ``variants`` maps a variant to (input shape,
    attributes)."""
    def make(rng, variant, dtype, env):
        shape, attrs = variants[variant]
        return Sample((V(rng, shape, dtype, domain),), dict(attrs))

    return register_case(OpCase(op, make, fn, ref, kinds=kinds, variants=tuple(variants),
                                grad=grad, out_dtype=out_dtype, tol=tol, name=name,
                                gradgrad=gradgrad, forward_only=tuple(forward_only)))


# -- reductions built on sum, amax, argmax ----------------------------------------------------
def _dims(**extra):
    table = {"all": ((2, 3, 4), (None, False)), "all-keep": ((2, 3, 4), (None, True)),
             "dim0": ((2, 3, 4), (0, False)), "dim-1-keep": ((2, 3, 4), (-1, True)),
             "dims": ((2, 3, 4), ((0, 2), False)), "neg-dims-keep": ((2, 3, 4), ((-1, 1), True)),
             "0-d": ((), (None, False)), "noncontig": ((4, 5), (0, False)),
             "strided": ((3, 4), (1, False))}
    table.update(extra)
    return {k: (shape, {"dim": d, "keepdim": k_}) for k, (shape, (d, k_)) in table.items()}


# degenerate rows (no degrees of freedom, empty dims: nan and inf with warnings) are left to
# the behaviour tests in tests/ops/test_reduction.py
_REDUCE = _dims()
_REDUCE_EMPTY = _dims(**{"empty-dim": ((0, 3), (0, False))})
_NO_0D = {k: v for k, v in _REDUCE.items() if k != "0-d"}
fcase("sum", "mean", _REDUCE, lambda x, dim, keepdim: corefw.mean(x, dim, keepdim),
      R.mean)
for _c in (1, 0, 2):
    fcase("sum", f"var(correction={_c})", _NO_0D if _c < 2 else {
        k: v for k, v in _NO_0D.items() if k != "dim0"},
          (lambda c: lambda x, dim, keepdim: corefw.var(x, dim, correction=c,
                                                        keepdim=keepdim))(_c),
          (lambda c: lambda x, dim, keepdim: R.var(x, dim, c, keepdim))(_c),
          tol=2.0)
fcase("sum", "std", _NO_0D, lambda x, dim, keepdim: corefw.std(x, dim, keepdim=keepdim),
      lambda x, dim, keepdim: R.std(x, dim, 1, keepdim), tol=2.0)
fcase("sum", "std(unbiased=False)", _REDUCE,
      lambda x, dim, keepdim: x.std(dim, unbiased=False, keepdim=keepdim),
      lambda x, dim, keepdim: R.std(x, dim, 0, keepdim), forward_only=("0-d",), tol=2.0)
for _p, _op in ((2, "sum"), (1, "sum"), (3, "pow"), (math.inf, "amax"), (-math.inf, "amin"),
                (0, "sum")):
    fcase(_op, f"norm(p={_p})", _REDUCE_EMPTY if _p == 1 else _REDUCE,
          (lambda p: lambda x, dim, keepdim: corefw.norm(x, p, dim, keepdim))(_p),
          (lambda p: lambda x, dim, keepdim: R.norm(x, p, dim, keepdim))(_p),
          domain="nonzero", grad=() if _p == 0 else (0,), tol=2.0)
_ARGDIM = {k: v for k, v in _REDUCE.items() if isinstance(v[1]["dim"], int)}
for _which, _op, _red, _arg in (("max", "argmax", R.amax, R.argmax),
                                ("min", "argmin", R.amin, R.argmin)):
    fcase(_op, f"{_which}(dim).values", _ARGDIM,
          (lambda w: lambda x, dim, keepdim: getattr(corefw, w)(x, dim, keepdim).values)(
              _which), _red, kinds=("int64", "float32", "float64"), domain="distinct")
    fcase(_op, f"{_which}(dim).indices", _ARGDIM,
          (lambda w: lambda x, dim, keepdim: getattr(x, w)(dim, keepdim=keepdim).indices)(
              _which), (lambda a: lambda x, dim, keepdim: a(x, dim % x.ndim, keepdim))(_arg),
          kinds=("int64", "float32"), domain="distinct", grad=(), out_dtype="int64")
_LOGIC = _REDUCE  # on empty tensors all/any answer without a kernel: tests/ops covers them
_LOGIC_DTYPES = ("bool", "uint8", "int64", "float32")
fcase("amin", "all", _LOGIC, lambda x, dim, keepdim: corefw.all(x, dim, keepdim),
      lambda x, dim, keepdim: R.amin(x != 0, dim, keepdim) if np.size(x) else np.full(
          np.shape(R.sum(x, dim, keepdim)), True), kinds=_LOGIC_DTYPES, domain="ties", grad=(),
      out_dtype="bool")
fcase("amax", "any", _LOGIC, lambda x, dim, keepdim: x.any(dim, keepdim),
      lambda x, dim, keepdim: R.amax(x != 0, dim, keepdim) if np.size(x) else np.full(
          np.shape(R.sum(x, dim, keepdim)), False), kinds=_LOGIC_DTYPES, domain="ties", grad=(),
      out_dtype="bool")

# -- movement built on reshape, permute, expand, slice, cat, where ----------------------------
_MOVE = {  # name -> (op it reaches, call, reference, input shape)
    "view": ("reshape", lambda t: t.view(-1), lambda a: a.reshape(-1), (2, 3)),
    "flatten": ("reshape", lambda t: t.flatten(), lambda a: a.reshape(-1), (2, 3, 2)),
    "flatten(1)": ("reshape", lambda t: corefw.flatten(t, 1), lambda a: a.reshape(2, -1),
                   (2, 3, 2)),
    "flatten(0, -2)": ("reshape", lambda t: t.flatten(0, -2), lambda a: a.reshape(6, 2),
                       (2, 3, 2)),
    "squeeze": ("reshape", lambda t: t.squeeze(), lambda a: a.reshape(3, 2), (1, 3, 1, 2)),
    "squeeze(2)": ("reshape", lambda t: corefw.squeeze(t, 2), lambda a: a.reshape(1, 3, 2),
                   (1, 3, 1, 2)),
    "squeeze((0, 2))": ("reshape", lambda t: t.squeeze((0, 2)), lambda a: a.reshape(3, 2),
                        (1, 3, 1, 2)),
    "unsqueeze": ("reshape", lambda t: t.unsqueeze(1), lambda a: a[:, None], (2, 3)),
    "unsqueeze(-1)": ("reshape", lambda t: corefw.unsqueeze(t, -1), lambda a: a[..., None],
                      (2, 3)),
    "unflatten": ("reshape", lambda t: t.unflatten(1, (2, 3)), lambda a: a.reshape(2, 2, 3),
                  (2, 6)),
    "permute(neg)": ("permute", lambda t: corefw.permute(t, (-1, 0, 1)),
                     lambda a: a.transpose(2, 0, 1), (2, 3, 2)),
    "transpose": ("permute", lambda t: t.transpose(0, -1), lambda a: a.swapaxes(0, 2),
                  (2, 3, 2)),
    "T": ("permute", lambda t: t.T, lambda a: a.T, (2, 3)),
    "mT": ("permute", lambda t: t.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 2)),
    "movedim": ("permute", lambda t: t.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1),
                (2, 3, 2)),
    "broadcast_to": ("expand", lambda t: corefw.broadcast_to(t, (2, 3)),
                     lambda a: np.broadcast_to(a, (2, 3)).copy(), (3,)),
    "expand(-1)": ("expand", lambda t: t.expand(2, -1, 4),
                   lambda a: np.broadcast_to(a, (2, 3, 4)).copy(), (3, 1)),
    "flip(dims)": ("flip", lambda t: corefw.flip(t, (-1, 0)), lambda a: a[::-1, :, ::-1].copy(),
                   (2, 3, 2)),
    "roll": ("cat", lambda t: t.roll(2, 1), lambda a: R.roll(a, 2, 1), (2, 5)),
    "roll(neg)": ("cat", lambda t: corefw.roll(t, -1, 0), lambda a: R.roll(a, -1, 0), (3, 2)),
    "roll(multi)": ("cat", lambda t: t.roll((1, -2), (0, 1)),
                    lambda a: R.roll(a, (1, -2), (0, 1)), (3, 4)),
    "roll(flat)": ("cat", lambda t: t.roll(1), lambda a: R.roll(a, 1), (2, 3)),
    "tril": ("where", lambda t: t.tril(), lambda a: R.tri(a, 0, False), (3, 4)),
    "tril(-1)": ("where", lambda t: corefw.tril(t, -1), lambda a: R.tri(a, -1, False),
                 (2, 3, 3)),
    "triu": ("where", lambda t: t.triu(), lambda a: R.tri(a, 0, True), (4, 3)),
    "triu(1)": ("where", lambda t: corefw.triu(t, 1), lambda a: R.tri(a, 1, True), (2, 3, 3)),
    "split[-1]": ("slice", lambda t: corefw.split(t, 2, 0)[-1], lambda a: a[4:].copy(), (5, 3)),
    "split(sizes)[0]": ("slice", lambda t: corefw.split(t, [1, 4], 0)[0],
                        lambda a: a[:1].copy(), (5, 3)),
    "chunk[1]": ("slice", lambda t: t.chunk(3, 1)[1], lambda a: a[:, 2:4].copy(), (2, 5)),
    # every piece used: the one split/unbind node's VJP joins all the pieces' gradients
    "split(all)": ("slice", lambda t: corefw.cat(corefw.split(t, 2, 0)[::-1], 0),
                   lambda a: np.concatenate([a[4:], a[2:4], a[:2]]), (5, 3)),
    "chunk(all)": ("slice", lambda t: corefw.cat([c * (i + 1) for i, c in enumerate(
        t.chunk(3, 1))], 1), lambda a: np.concatenate([a[:, :2], 2 * a[:, 2:4], 3 * a[:, 4:]],
                                                       1), (2, 5)),
    "unbind": ("slice", lambda t: corefw.stack(t.unbind(1)[::-1], 0),
               lambda a: np.stack([a[:, j] for j in range(a.shape[1])][::-1], 0), (2, 3, 2)),
    "unbind[1]": ("slice", lambda t: t.unbind(0)[1], lambda a: a[1].copy(), (3, 4)),
}
_EDGE = {  # name -> (op, call, reference, 0-d or empty input shape)
    "reshape(0-d)": ("reshape", lambda t: t.reshape(()), lambda a: a.reshape(()), (1, 1)),
    "flatten(0-d)": ("reshape", lambda t: t.flatten(), lambda a: a.reshape(1), ()),
    "unsqueeze(0-d)": ("reshape", lambda t: t.unsqueeze(-1), lambda a: a.reshape(1), ()),
    "expand(0-d)": ("expand", lambda t: t.expand(2, 3), lambda a: np.broadcast_to(
        a, (2, 3)).copy(), ()),
    "expand(empty)": ("expand", lambda t: t.expand(0, 4), lambda a: np.zeros((0, 4), a.dtype),
                      (0, 1)),
    "T(empty)": ("permute", lambda t: t.T, lambda a: a.T.copy(), (0, 3)),
    "tril(empty)": ("where", lambda t: t.tril(), lambda a: a.copy(), (0, 3)),
    "stack(empty)": ("cat", lambda t: corefw.stack([t, t], 1), lambda a: np.stack([a, a], 1),
                     (0, 3)),
    "split(empty)": ("slice", lambda t: corefw.split(t, 2, 1)[1], lambda a: a[:, 2:].copy(),
                     (0, 3)),
    "unbind(empty)": ("slice", lambda t: corefw.stack(t.unbind(1), 0), lambda a: a.T.copy(),
                      (0, 3)),
    "unflatten(empty)": ("reshape", lambda t: t.unflatten(1, (3, 1)),
                         lambda a: a.reshape(0, 3, 1), (0, 3)),
}
for _name, (_op, _fn, _ref, _shape) in {**_MOVE, **_EDGE}.items():
    _layout = "noncontig" if len(_shape) >= 2 and _name not in _EDGE else "strided"
    fcase(_op, _name, {"basic": (_shape, {}), _layout: (_shape, {})},
          (lambda f: lambda x: f(x))(_fn), (lambda r: lambda x: np.array(r(np.asarray(x))))(_ref),
          kinds=("int64", "float32", "float64"))  # integers must move bit-exactly


def _stack_make(dim):
    def make(rng, variant, dtype, env):
        return Sample(tuple(V(rng, (2, 3), dtype) for _ in range(3)), {"dim": dim},
                      grad=(0, 1, 2))
    return make


for _dim in (0, 1, -1):
    register_case(OpCase("cat", _stack_make(_dim), lambda *xs, dim: corefw.stack(xs, dim),
                         lambda *xs, dim: np.stack(xs, dim), kinds="fi",
                         variants=("basic", "noncontig"), grad=(0, 1, 2),
                         name=f"stack(dim={_dim})"))
    register_case(OpCase("cat", _stack_make(_dim), lambda *xs, dim: corefw.cat(xs, dim),
                         lambda *xs, dim: np.concatenate(xs, dim), kinds="fi",
                         variants=("strided",), grad=(0, 1, 2), name=f"cat(dim={_dim})"))

# -- pad modes (built on slice, cat, flip, expand) --------------------------------------------
_PADS = {"constant(crop)": ("pad", (-1, 1), "constant"),
         "reflect": ("cat", (2, 1), "reflect"), "reflect-2d": ("cat", (1, 2, 2, 1), "reflect"),
         "replicate": ("cat", (3, 1), "replicate"),
         "replicate-2d": ("cat", (1, 1, 2, 0), "replicate"),
         "circular": ("cat", (2, 1), "circular"), "circular-2d": ("cat", (1, 2, 0, 1), "circular")}
for _name, (_op, _pad, _mode) in _PADS.items():
    fcase(_op, f"pad({_name})", {"basic": ((2, 3, 4), {}), "noncontig": ((1, 3, 4), {})},
          (lambda p, m: lambda x: corefw.pad(x, p, m))(_pad, _mode),
          (lambda p, m: lambda x: R.pad_mode(x, p, m))(_pad, _mode))

# -- arithmetic forms ------------------------------------------------------------------------
for _mode in ("trunc", "floor"):
    register_case(OpCase(  # floor mode is floor_divide's kernel
        "div" if _mode == "trunc" else "floor_divide",
        lambda rng, variant, dtype, env: Sample((V(rng, (3, 4), dtype, "offint") * 3,
                                                 V(rng, (3, 4), dtype, "divisor"))),
        (lambda m: lambda a, b: corefw.div(a, b, rounding_mode=m))(_mode),
        (lambda m: lambda a, b: (np.trunc if m == "trunc" else np.floor)(
            np.asarray(a, np.float64) / np.asarray(b, np.float64)))(_mode),
        kinds="fi", variants=("basic",), grad=(), name=f"div(rounding_mode={_mode})"))
fcase("round", "round(decimals=2)", {"basic": ((3, 4), {})},
      lambda x: corefw.round(x, decimals=2), lambda x: R.round_half_even(x * 100.0) / 100.0,
      kinds=("float32", "float64"), domain="small", grad=())

# -- matmul forms -----------------------------------------------------------------------------
_MM = {"mm": (lambda a, b: corefw.mm(a, b), (3, 4), (4, 5)),
       "mv": (lambda a, b: corefw.mv(a, b), (3, 4), (4,)),
       "dot": (lambda a, b: corefw.dot(a, b), (4,), (4,)),
       "bmm": (lambda a, b: corefw.bmm(a, b), (2, 3, 4), (2, 4, 2)),
       "Tensor.mm": (lambda a, b: a.mm(b), (3, 4), (4, 2))}
for _name, (_fn, _sa, _sb) in _MM.items():
    register_case(OpCase(
        "matmul", (lambda sa, sb: lambda rng, variant, dtype, env: Sample(
            (V(rng, sa, dtype), V(rng, sb, dtype))))(_sa, _sb), _fn, R.matmul, kinds="fi",
        variants=("basic", "noncontig"), grad=(0, 1), name=_name, tol=4.0))
register_case(OpCase(
    "mul", lambda rng, variant, dtype, env: Sample((V(rng, (3,), dtype), V(rng, (4,), dtype))),
    corefw.outer, lambda a, b: a[:, None] * b[None, :], kinds="fi", variants=("basic",),
    grad=(0, 1), name="outer"))


# -- in-place methods (they all end in copy_) -------------------------------------------------
#: in-place methods: name -> (call on (x, a, b) changing x, reference on float64 (x, a, b))
INPLACE = {
    "add_": (lambda x, a, b: x.add_(a), lambda x, a, b: x + a),
    "add_alpha": (lambda x, a, b: x.add_(a, alpha=-2.5), lambda x, a, b: x - 2.5 * a),
    "add_scalar": (lambda x, a, b: x.add_(1.5), lambda x, a, b: x + 1.5),
    "sub_": (lambda x, a, b: x.sub_(a), lambda x, a, b: x - a),
    "sub_alpha": (lambda x, a, b: x.sub_(a, alpha=3), lambda x, a, b: x - 3 * a),
    "mul_": (lambda x, a, b: x.mul_(a), lambda x, a, b: x * a),
    "mul_scalar": (lambda x, a, b: x.mul_(-2), lambda x, a, b: x * -2),
    "div_": (lambda x, a, b: x.div_(b), lambda x, a, b: x / b),
    "div_scalar": (lambda x, a, b: x.div_(4.0), lambda x, a, b: x / 4.0),
    "zero_": (lambda x, a, b: x.zero_(), lambda x, a, b: x * 0),
    "fill_": (lambda x, a, b: x.fill_(2.5), lambda x, a, b: np.full_like(x, 2.5)),
    "fill_tensor": (lambda x, a, b: x.fill_(corefw.tensor(-1.0, device=x.device)),
                    lambda x, a, b: np.full_like(x, -1.0)),
    "copy_": (lambda x, a, b: x.copy_(a), lambda x, a, b: np.broadcast_to(a, x.shape).copy()),
    "addcmul_": (lambda x, a, b: x.addcmul_(a, b), lambda x, a, b: x + a * b),
    "addcmul_value": (lambda x, a, b: x.addcmul_(a, b, value=-0.5),
                      lambda x, a, b: x - 0.5 * a * b),
    "addcdiv_": (lambda x, a, b: x.addcdiv_(a, b), lambda x, a, b: x + a / b),
    "addcdiv_value": (lambda x, a, b: x.addcdiv_(a, b, value=2.0),
                      lambda x, a, b: x + 2.0 * a / b),
    "clamp_": (lambda x, a, b: x.clamp_(-0.5, 0.5),
               lambda x, a, b: np.minimum(np.maximum(x, -0.5), 0.5)),
    "clamp_min": (lambda x, a, b: x.clamp_(min=0.2), lambda x, a, b: np.maximum(x, 0.2)),
    "clamp_max_tensor": (lambda x, a, b: x.clamp_(max=a), lambda x, a, b: np.minimum(x, a)),
    "iadd": (lambda x, a, b: x.__iadd__(a), lambda x, a, b: x + a),
    "isub": (lambda x, a, b: x.__isub__(2), lambda x, a, b: x - 2),
    "imul": (lambda x, a, b: x.__imul__(b), lambda x, a, b: x * b),
    "itruediv": (lambda x, a, b: x.__itruediv__(b), lambda x, a, b: x / b),
    "exp_": (lambda x, a, b: x.exp_(), lambda x, a, b: np.exp(x)),
    "sqrt_": (lambda x, a, b: x.abs_().sqrt_(), lambda x, a, b: np.sqrt(np.abs(x))),
    "neg_": (lambda x, a, b: x.neg_(), lambda x, a, b: -x),
}


def _inplace_make(rng, variant, dtype, env):
    return Sample((V(rng, (3, 4), dtype, "nonzero"), V(rng, (4,), dtype, "nonzero"),
                   V(rng, (3, 4), dtype, "pos")), grad=(0, 1, 2))


def _inplace_fn(call):
    def fn(x, a, b):
        y = x * 1.0  # a non-leaf, changed in place: gradients flow through the change
        call(y, a, b)
        return y
    return fn


for _name, (_call, _ref) in INPLACE.items():
    register_case(OpCase("copy_", _inplace_make, _inplace_fn(_call), _ref,
                         variants=("basic", "strided"), grad=(0, 1, 2), name=_name))
