"""Cases for the elementwise primitives and composites (unary, binary, compare, where)."""

from __future__ import annotations

import numpy as np

import corefw
from corefw.plugins import call_op

from . import reference as R
from .cases import BINARY_SHAPES, INT, UNARY_SHAPES, NotApplicable, OpCase, Sample, register_case
from .cases import values as V

ALL_UNARY = ("basic", "0-d", "empty", "noncontig", "strided", "large")
ALL_BINARY = ("basic", "0-d", "empty", "broadcast", "0d-left", "scalar", "rscalar", "noncontig",
              "strided", "large")
_SCALARS = {"bool": True, "float16": 0.75, "bfloat16": 0.75, "float32": 0.75,
            "float64": 0.75}
_SCALAR_DOMAIN = {"divisor": (2.0, 2), "pos": (1.5, 2), "nonzero": (0.75, 2)}


def _f(dtype: str) -> str:
    """Result dtype of a float-valued op on ``dtype`` (integers give float32, PyTorch's rule)."""
    return dtype if "float" in dtype else "float32"


def unary(op, fn, ref, *, domain="any", kinds="f", variants=ALL_UNARY, grad=(0,),
          out_dtype=None, tol=1.0, attrs=None, extra=None, doc="", name="", gradgrad=False):
    """A one-operand shape-generic case; ``extra`` maps more variant names to host arrays."""
    def make(rng, variant, dtype, env):
        if extra and variant in extra:
            return Sample((np.asarray(extra[variant], dtype=dtype),), dict(attrs or {}))
        return Sample((V(rng, UNARY_SHAPES[variant], dtype, domain),), dict(attrs or {}))

    return register_case(OpCase(op, make, fn, ref, kinds=kinds,
                                variants=tuple(variants) + tuple(extra or ()), grad=grad,
                                out_dtype=out_dtype, tol=tol, doc=doc, name=name,
                                gradgrad=gradgrad, forward_only=tuple(extra or ())))


def _scalar(dtype, domain):
    if dtype in INT:
        return _SCALAR_DOMAIN.get(domain, (0.75, 3))[1]
    if dtype == "bool":
        return True
    return _SCALAR_DOMAIN.get(domain, (_SCALARS[dtype], 0))[0]


def binary(op, fn, ref, *, domain=("any", "any"), kinds="f", variants=ALL_BINARY, grad=(0, 1),
           out_dtype=None, tol=1.0, gradgrad=False, rscalar_domain="pos"):
    """A two-operand broadcasting case; ``scalar`` passes a Python number as the right operand,
    ``rscalar`` as the left one (``2.0 - x``), ``0d-left`` a 0-d tensor as the left one."""
    def make(rng, variant, dtype, env):
        if variant == "rscalar":
            return Sample((_scalar(dtype, rscalar_domain), V(rng, (3, 4), dtype, domain[1])),
                          grad=(1,))
        if variant == "0d-left":
            return Sample((V(rng, (), dtype, domain[0]), V(rng, (3, 4), dtype, domain[1])))
        sa, sb = BINARY_SHAPES[variant]
        a = V(rng, sa, dtype, domain[0])
        if variant == "scalar":
            return Sample((a, _scalar(dtype, domain[1])), grad=(0,))
        return Sample((a, V(rng, sb, dtype, domain[1])))

    return register_case(OpCase(op, make, fn, ref, kinds=kinds, variants=tuple(variants),
                                grad=grad, out_dtype=out_dtype, tol=tol, gradgrad=gradgrad))


def _int_ref(fn):
    """Apply ``fn`` and keep integer inputs' dtype (wrap-around as C integers do)."""
    def ref(x, *rest, **kw):
        out = fn(x, *rest, **kw)
        return out.astype(x.dtype) if np.asarray(x).dtype.kind in "iu" else out
    return ref


# -- unary primitives -------------------------------------------------------------------------
def _neg(x):
    if x.dtype.kind in "fV":
        return -np.asarray(x, dtype=np.float64)
    return (-x.astype(np.int64)).astype(x.dtype)  # integers wrap around (uint8: 256 - x)


unary("neg", lambda x: -x, _neg, kinds="fi")
unary("exp", corefw.exp, np.exp, domain="small", gradgrad=True)
unary("log", corefw.log, np.log, domain="pos", gradgrad=True)
unary("sqrt", corefw.sqrt, np.sqrt, domain="pos", gradgrad=True)
unary("tanh", corefw.tanh, np.tanh, gradgrad=True)
unary("sin", corefw.sin, np.sin, gradgrad=True)
unary("cos", corefw.cos, np.cos)
unary("abs", corefw.abs, _int_ref(np.abs), domain="nonzero", kinds="fi")
unary("sign", corefw.sign, _int_ref(np.sign), domain="nonzero", kinds="fi")
unary("floor", corefw.floor, _int_ref(np.floor), domain="offint", kinds="f")
unary("ceil", corefw.ceil, _int_ref(np.ceil), domain="offint", kinds="f")
unary("round", corefw.round, R.round_half_even, domain="offint",
      extra={"halves": [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]})
unary("erf", corefw.erf, R.erf, gradgrad=True)
unary("mul", corefw.square, lambda x: x * x, kinds="fi", name="square", gradgrad=True)
unary("bitwise_not", corefw.bitwise_not,
      lambda x: np.logical_not(x) if x.dtype == bool else np.invert(x), kinds="ib")

# -- binary primitives ------------------------------------------------------------------------
binary("add", lambda a, b: a + b, lambda a, b: np.add(a, b), kinds="fi")
binary("sub", lambda a, b: a - b, lambda a, b: np.subtract(a, b), kinds="fi")
binary("mul", lambda a, b: a * b, lambda a, b: np.multiply(a, b), kinds="fi", gradgrad=True)
binary("div", lambda a, b: a / b, lambda a, b: np.asarray(a, np.float64) / np.asarray(
    b, np.float64), domain=("nonzero", "nonzero"), kinds="fi", out_dtype=_f, gradgrad=True)
binary("pow", lambda a, b: a ** b, lambda a, b: np.power(a, b), domain=("pos", "small"),
       kinds="f", gradgrad=True)
register_case(OpCase(
    "pow", lambda rng, variant, dtype, env: Sample((
        V(rng, (3, 4), dtype, "pos"), rng.integers(0, 4, size=(3, 4)).astype(dtype))),
    lambda a, b: a ** b, lambda a, b: np.power(a.astype(np.int64), b.astype(np.int64)),
    kinds="i", variants=("basic",), grad=()))
binary("maximum", corefw.maximum, np.maximum, domain=("distinct", "distinct"), kinds="fib")
binary("minimum", corefw.minimum, np.minimum, domain=("distinct", "distinct"), kinds="fib")
binary("floor_divide", corefw.floor_divide, R.floor_divide, domain=("offint", "divisor"),
       kinds="fi")
binary("remainder", corefw.remainder, R.remainder, domain=("offint", "divisor"), kinds="fi")
for _name, _np in (("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                   ("bitwise_xor", np.bitwise_xor)):
    binary(_name, getattr(corefw, _name), _np, kinds="ib", grad=())
for _name, _np in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                   ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    binary(_name, getattr(corefw, _name), _np, domain=("ties", "ties"), kinds="fib", grad=(),
           out_dtype="bool")


def _where_make(rng, variant, dtype, env):
    if variant in ("scalar", "rscalar"):  # a Python number for one branch
        cond, x = np.asarray(rng.random((3, 4)) < 0.5), V(rng, (3, 4), dtype)
        value = _scalar(dtype, "any")
        return (Sample((cond, x, value), grad=(1,)) if variant == "scalar" else
                Sample((cond, value, x), grad=(2,)))
    shapes = {"basic": ((3, 4),) * 3, "0-d": ((),) * 3, "empty": ((0, 4),) * 3,
              "broadcast": ((3, 1), (1, 4), (4,)), "0d-branch": ((3, 4), (), (3, 4)),
              "noncontig": ((4, 5),) * 3, "strided": ((3, 4),) * 3,
              "large": ((257, 259),) * 3}[variant]
    return Sample((np.asarray(rng.random(shapes[0]) < 0.5), V(rng, shapes[1], dtype),
                   V(rng, shapes[2], dtype)), grad=(1, 2))


register_case(OpCase("where", _where_make, corefw.where, np.where, kinds="fib",
                     variants=("basic", "0-d", "empty", "broadcast", "0d-branch", "scalar",
                               "rscalar", "noncontig", "strided", "large")))

# -- elementwise composites -------------------------------------------------------------------
unary("sigmoid", corefw.sigmoid, R.sigmoid, gradgrad=True)
unary("relu", corefw.relu, lambda x: np.maximum(x, 0.0), domain="nonzero")
unary("log1p", corefw.log1p, lambda x: np.log(1.0 + x), domain="unit")
unary("expm1", corefw.expm1, lambda x: np.exp(x) - 1.0, domain="small")
unary("rsqrt", corefw.rsqrt, lambda x: 1.0 / np.sqrt(x), domain="pos")
unary("tan", corefw.tan, lambda x: np.sin(x) / np.cos(x), domain="unit")
unary("reciprocal", corefw.reciprocal, lambda x: 1.0 / x, domain="nonzero", gradgrad=True)
unary("silu", lambda x: call_op("silu", x), R.silu, gradgrad=True)


def _attr_case(op, ref, attr_variants, domain="any", gradgrad=False):
    """A one-operand composite called through :func:`corefw.plugins.call_op` with attributes;
    each variant name maps to its attributes (the edge variants get the first one's)."""
    first = next(iter(attr_variants.values()))
    attr_variants = {**attr_variants, "noncontig": first, "strided": first}

    def make(rng, variant, dtype, env):
        return Sample((V(rng, UNARY_SHAPES.get(variant, (3, 4)), dtype, domain),),
                      dict(attr_variants[variant]))

    return register_case(OpCase(op, make, lambda x, **kw: call_op(op, x, **kw),
                                lambda x, **kw: ref(x, **kw), variants=tuple(attr_variants),
                                gradgrad=gradgrad))


_attr_case("softplus", R.softplus, {
    "basic": {"beta": 1.0, "threshold": 20.0}, "0-d": {"beta": 1.0, "threshold": 20.0},
    "empty": {"beta": 1.0, "threshold": 20.0}, "large": {"beta": 1.0, "threshold": 20.0},
    "threshold": {"beta": 2.0, "threshold": 1.0}}, domain="nonzero", gradgrad=True)
_attr_case("gelu", R.gelu, {
    "basic": {"approximate": "none"}, "0-d": {"approximate": "none"},
    "empty": {"approximate": "none"}, "large": {"approximate": "none"},
    "tanh": {"approximate": "tanh"}}, gradgrad=True)
_attr_case("leaky_relu", R.leaky_relu, {
    "basic": {"negative_slope": 0.01}, "0-d": {"negative_slope": 0.01},
    "large": {"negative_slope": 0.01}, "slope": {"negative_slope": 0.2}}, domain="nonzero")
_attr_case("elu", R.elu, {
    "basic": {"alpha": 1.0}, "0-d": {"alpha": 1.0}, "large": {"alpha": 1.0},
    "alpha": {"alpha": 0.5}}, domain="nonzero", gradgrad=True)


def _clamp_make(rng, variant, dtype, env):
    bounds = {"basic": (-1, 2), "min": (-1, None), "max": (None, 1), "0-d": (-1, 2),
              "empty": (-1, 2), "large": (-1, 2), "noncontig": (-1, 2), "strided": (-1, 2),
              "crossed": (1, -1)}[variant]
    if dtype in INT or dtype == "bool":
        raise NotApplicable("clamp is checked in floating dtypes")
    lo, hi = (None if b is None else float(b) for b in bounds)
    return Sample((V(rng, UNARY_SHAPES.get(variant, (3, 4)), dtype, "offint"),),
                  {"min": lo, "max": hi})


def _clamp_ref(x, min, max):
    """``min(max(x, lo), hi)``: with ``lo > hi`` every element is ``hi`` (PyTorch's rule)."""
    if min is not None:
        x = np.where(x < min, min, x)
    return x if max is None else np.where(x > max, max, x)


register_case(OpCase("clamp", _clamp_make, lambda x, min, max: corefw.clamp(x, min, max),
                     _clamp_ref, variants=("basic", "min", "max", "crossed", "0-d", "empty",
                                           "noncontig", "strided", "large")))
_CLAMP_T = {"basic": ((3, 4), (3, 4)), "broadcast": ((3, 4), (4,)), "0-d": ((), ())}
register_case(OpCase(
    "maximum", lambda rng, variant, dtype, env: Sample((
        V(rng, _CLAMP_T[variant][0], dtype, "offint"),
        np.asarray(V(rng, _CLAMP_T[variant][1], dtype) * 0.3, dtype=dtype))),
    lambda x, lo: corefw.clamp(x, min=lo), lambda x, lo: np.where(x < lo, lo, x),
    variants=tuple(_CLAMP_T), grad=(0, 1), name="clamp(min=tensor)"))


# -- transfers --------------------------------------------------------------------------------
def _to_make(rng, variant, dtype, env):
    other = env.other_device
    if other is None:
        raise NotApplicable("needs a second device type")
    if dtype not in other.backend.dtypes:
        raise NotApplicable(f"{other.type} does not declare {dtype}")
    return Sample((V(rng, UNARY_SHAPES[variant], dtype),), {"other": other, "home": env.device})


register_case(OpCase("to_device", _to_make, lambda x, other, home: x.to(other).to(home),
                     lambda x, other, home: np.array(x), kinds="fib", variants=ALL_UNARY,
                     doc="a round trip through the other device; gradients flow back across "
                         "both .to() calls"))
