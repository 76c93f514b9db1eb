"""Elementwise ops and activations: forward against the float64 reference on 0-d, empty,
broadcast and non-contiguous inputs; backward by gradcheck; composites against their
decompositions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corefw
from corefw.ops.registry import OPS, get_op

from . import reference as ref
from .helpers import CASE_IDS, CASES, check, gradcheck, leaf, make, npy, sample

# name -> (corefw function, reference, domain, attrs)
UNARY = {
    "neg": (corefw.neg, ref.UNARY["neg"], "real", {}),
    "exp": (corefw.exp, ref.UNARY["exp"], "real", {}),
    "log": (corefw.log, ref.UNARY["log"], "pos", {}),
    "log1p": (corefw.log1p, ref.UNARY["log1p"], "log1p", {}),
    "expm1": (corefw.expm1, ref.UNARY["expm1"], "real", {}),
    "sqrt": (corefw.sqrt, ref.UNARY["sqrt"], "pos", {}),
    "rsqrt": (corefw.rsqrt, ref.UNARY["rsqrt"], "pos", {}),
    "sin": (corefw.sin, ref.UNARY["sin"], "real", {}),
    "cos": (corefw.cos, ref.UNARY["cos"], "real", {}),
    "tan": (corefw.tan, ref.UNARY["tan"], "tan", {}),
    "tanh": (corefw.tanh, ref.UNARY["tanh"], "real", {}),
    "sigmoid": (corefw.sigmoid, ref.UNARY["sigmoid"], "real", {}),
    "relu": (corefw.relu, ref.UNARY["relu"], "kink", {}),
    "abs": (corefw.abs, ref.UNARY["abs"], "kink", {}),
    "sign": (corefw.sign, ref.UNARY["sign"], "kink", {}),
    "floor": (corefw.floor, ref.UNARY["floor"], "frac", {}),
    "ceil": (corefw.ceil, ref.UNARY["ceil"], "frac", {}),
    "round": (corefw.round, ref.UNARY["round"], "round", {}),
    "reciprocal": (corefw.reciprocal, ref.UNARY["reciprocal"], "pos", {}),
    "erf": (corefw.erf, ref.UNARY["erf"], "real", {}),
    "square": (corefw.square, ref.UNARY["square"], "real", {}),
    "silu": (corefw.silu, ref.UNARY["silu"], "real", {}),
    "gelu": (corefw.gelu, ref.UNARY["gelu"], "real", {}),
    "gelu_tanh": (corefw.gelu, ref.UNARY["gelu"], "real", {"approximate": "tanh"}),
    "softplus": (corefw.softplus, ref.UNARY["softplus"], "real", {}),
    "softplus_beta": (corefw.softplus, ref.UNARY["softplus"], "real",
                      {"beta": 2.0, "threshold": 1.5}),
    "leaky_relu": (corefw.leaky_relu, ref.UNARY["leaky_relu"], "kink", {}),
    "leaky_relu_slope": (corefw.leaky_relu, ref.UNARY["leaky_relu"], "kink",
                         {"negative_slope": 0.2}),
    "elu": (corefw.elu, ref.UNARY["elu"], "kink", {}),
    "elu_alpha": (corefw.elu, ref.UNARY["elu"], "kink", {"alpha": 0.5}),
}
SMOOTH_OFF = {"floor", "ceil", "round", "sign"}  # piecewise constant: gradient 0


@pytest.mark.parametrize("dtype", [corefw.float16, corefw.float32, corefw.float64],
                         ids=["f16", "f32", "f64"])
@pytest.mark.parametrize("shape,layout", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward(name, shape, layout, dtype, rng, device):
    fn, reference, domain, attrs = UNARY[name]
    data = sample(rng, shape, domain)
    x = make(data, dtype, layout, device=device)
    out = fn(x, **attrs)
    assert out.dtype is dtype
    check(out, reference(npy(x), **attrs), dtype)


def test_inputs_really_are_non_contiguous():
    assert not make(np.ones((2, 3)), layout="strided").numpy().flags.c_contiguous
    assert not make(np.ones((3, 2, 2)), layout="transposed").numpy().flags.c_contiguous


@pytest.mark.parametrize("shape,layout", [((2, 3), "strided"), ((), "contig")],
                         ids=["strided", "0d"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_backward(name, shape, layout, rng, device):
    fn, _, domain, attrs = UNARY[name]
    x = leaf(rng, shape, domain, layout, device=device)
    gradcheck(lambda t: fn(t, **attrs), x)
    if name in SMOOTH_OFF:
        fn(x, **attrs).sum().backward()
        assert np.all(npy(x.grad) == 0)


def second_derivative_check(fn, x, rng) -> None:
    """gradcheck of ``x -> d/dx <fn(x), v>`` computed with ``create_graph=True``."""
    v = corefw.tensor(rng.standard_normal(fn(x).shape), dtype=corefw.float64, device=x.device)

    def first_derivative(t):
        with corefw.enable_grad():
            t = t if t.requires_grad else t.detach().requires_grad_()
            (g,) = corefw.autograd.grad(fn(t), t, v, create_graph=True)
        return g

    gradcheck(first_derivative, x)


SECOND_ORDER = ["exp", "tanh", "sigmoid", "log", "sqrt", "gelu", "gelu_tanh", "silu",
                "softplus", "erf", "sin", "reciprocal", "elu"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_unary_second_derivative(name, rng, device):
    fn, _, domain, attrs = UNARY[name]
    second_derivative_check(lambda t: fn(t, **attrs), leaf(rng, (3,), domain, device=device), rng)


@pytest.mark.parametrize("name", ["mul", "div", "pow"])
def test_binary_second_derivative(name, rng, device):
    fn, _, da, db = BINARY[name]
    b = make(sample(rng, (3,), db), device=device)
    second_derivative_check(lambda t: fn(t, b), leaf(rng, (3,), da, device=device), rng)


def test_gradgradcheck_itself(rng, device):
    assert corefw.autograd.gradgradcheck(lambda t: t * t * t, (leaf(rng, (3,), device=device),))


def test_clone_and_cast_backward(rng, device):
    x = leaf(rng, (2, 3), "real", "strided", device=device)
    gradcheck(lambda t: corefw.clone(t) * t, x)
    before = npy(x)
    y = corefw.clone(x.detach())
    y.fill_(0.0)  # a clone owns its storage
    np.testing.assert_array_equal(npy(x), before)
    h = corefw.tensor([1.5, -2.0], dtype=corefw.float32, requires_grad=True, device=device)
    out = h.to(corefw.float64) * corefw.tensor([2.0, 3.0], dtype=corefw.float64, device=device)
    out.sum().backward()
    assert h.grad.dtype is corefw.float32 and h.grad.tolist() == [2.0, 3.0]
    assert corefw.tensor([1.0], device=device).to(corefw.int64).requires_grad is False


def test_round_half_to_even_and_decimals(device):
    x = corefw.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997], dtype=corefw.float64, device=device)
    assert corefw.round(x).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 0.0]
    check(corefw.round(corefw.tensor([1.2345, -2.5678], dtype=corefw.float64, device=device),
                       decimals=2), [1.23, -2.57])


def test_unary_ops_on_integers_follow_torch(device):
    i = corefw.tensor([-2, 0, 3], device=device)
    assert corefw.abs(i).tolist() == [2, 0, 3] and corefw.abs(i).dtype is corefw.int64
    assert corefw.sign(i).tolist() == [-1, 0, 1]
    assert corefw.floor(i).dtype is corefw.int64 and corefw.relu(i).tolist() == [0, 0, 3]
    for fn in (corefw.exp, corefw.sqrt, corefw.sigmoid, corefw.sin, corefw.log1p):
        # ints give the default float
        assert fn(corefw.tensor([1, 2], device=device)).dtype is corefw.float32
    b = corefw.tensor([True, False], device=device)
    assert corefw.sign(b).tolist() == [True, False] and corefw.sign(b).dtype is corefw.bool


def test_clamp_forward_backward(rng, device):
    data = sample(rng, (3, 4), "kink")
    for lo, hi in ((-0.5, 0.5), (None, 0.3), (-0.3, None), (1.0, -1.0)):
        check(corefw.clamp(make(data, device=device), lo, hi), ref.clamp(data, lo, hi))
    gradcheck(lambda t: corefw.clamp(t, -0.5, 0.5),
              leaf(rng, (2, 3), "kink", "strided", device=device))
    lo = make(sample(rng, (4,), "real") * 0.3, requires_grad=True, device=device)
    gradcheck(lambda t, m: corefw.clamp(t, min=m), leaf(rng, (3, 4), "kink", device=device), lo)
    with pytest.raises(ValueError, match="at least one"):
        corefw.clamp(make(data, device=device))


def test_clamp_dtypes_follow_torch(device):
    i = corefw.tensor([0, 5, 10], device=device)
    assert corefw.clamp(i, 2, 8).dtype is corefw.int64
    out = corefw.clamp(i, 1.5, 8.5)
    assert out.dtype is corefw.float32 and out.tolist() == [1.5, 5.0, 8.5]
    assert corefw.clamp(corefw.tensor([1.0], dtype=corefw.float16, device=device), 0,
                        0.5).dtype is corefw.float16


# -- binary ops -----------------------------------------------------------------------------
BINARY = {  # name -> (corefw function, reference, domain of a, domain of b)
    "add": (corefw.add, ref.BINARY["add"], "real", "real"),
    "sub": (corefw.sub, ref.BINARY["sub"], "real", "real"),
    "mul": (corefw.mul, ref.BINARY["mul"], "real", "real"),
    "div": (corefw.div, ref.BINARY["div"], "real", "pos"),
    "pow": (corefw.pow, ref.BINARY["pow"], "pos", "real"),
    "maximum": (corefw.maximum, ref.BINARY["maximum"], "real", "real"),
    "minimum": (corefw.minimum, ref.BINARY["minimum"], "real", "real"),
    "floor_divide": (corefw.floor_divide, ref.BINARY["floor_divide"], "real", "kink"),
    "remainder": (corefw.remainder, ref.BINARY["remainder"], "real", "kink"),
}
COMPARE = {"eq": corefw.eq, "ne": corefw.ne, "lt": corefw.lt, "le": corefw.le, "gt": corefw.gt,
           "ge": corefw.ge}
# (shape of a, shape of b, layout of a, layout of b)
PAIRS = [((2, 3), (2, 3), "contig", "strided"), ((2, 3), (3,), "strided", "contig"),
         ((2, 1), (1, 3), "contig", "contig"), ((), (2, 3), "contig", "strided"),
         ((0, 3), (3,), "contig", "contig"), ((3, 2, 2), (2, 1), "transposed", "contig"),
         ((), (), "contig", "contig")]
PAIR_IDS = ["same", "row", "outer", "0d-left", "empty", "transposed", "both-0d"]


@pytest.mark.parametrize("dtype", [corefw.float16, corefw.float32, corefw.float64],
                         ids=["f16", "f32", "f64"])
@pytest.mark.parametrize("sa,sb,la,lb", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward(name, sa, sb, la, lb, dtype, rng, device):
    fn, reference, da, db = BINARY[name]
    a = make(sample(rng, sa, da), dtype, la, device=device)
    b = make(sample(rng, sb, db), dtype, lb, device=device)
    out = fn(a, b)
    assert out.dtype is dtype
    check(out, reference(npy(a), npy(b)), dtype)


@pytest.mark.parametrize("sa,sb,la,lb", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparison_forward(name, sa, sb, la, lb, rng, device):
    a = make(rng.integers(-2, 3, sa).astype(float), corefw.float32, la, device=device)
    b = make(rng.integers(-2, 3, sb).astype(float), corefw.float32, lb, device=device)
    out = COMPARE[name](a, b)
    assert out.dtype is corefw.bool
    check(out, ref.BINARY[name](npy(a), npy(b)))


@pytest.mark.parametrize("sa,sb,la,lb", PAIRS[:4] + PAIRS[5:], ids=PAIR_IDS[:4] + PAIR_IDS[5:])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_backward(name, sa, sb, la, lb, rng, device):
    fn, _, da, db = BINARY[name]
    a, b = leaf(rng, sa, da, la, device=device), leaf(rng, sb, db, lb, device=device)
    if name in ("maximum", "minimum"):  # a in k + 0.25, b in k + 0.75: no ties, no kinks
        a = make(rng.integers(-2, 2, sa) + rng.uniform(0.2, 0.3, sa), layout=la,
                 requires_grad=True, device=device)
        b = make(rng.integers(-2, 2, sb) + rng.uniform(0.7, 0.8, sb), layout=lb,
                 requires_grad=True, device=device)
    gradcheck(fn, a, b)


@pytest.mark.parametrize("name,scalar", [("mul", 2.5), ("div", 3.0), ("pow", 3), ("pow", 0.5),
                                         ("sub", 1.5), ("add", 2)])
def test_binary_backward_with_scalar_operand(name, scalar, rng, device):
    fn = BINARY[name][0]
    gradcheck(lambda t: fn(t, scalar), leaf(rng, (2, 3), "pos", device=device))
    if name != "pow" or scalar == 3:
        gradcheck(lambda t: fn(scalar, t), leaf(rng, (2, 3), "pos", device=device))


def test_maximum_minimum_split_the_gradient_on_ties(device):
    a = corefw.tensor([1.0, 2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    b = corefw.tensor([1.0, 5.0, 0.0], dtype=corefw.float64, requires_grad=True, device=device)
    corefw.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0, 1.0] and b.grad.tolist() == [0.5, 1.0, 0.0]
    a.grad = b.grad = None
    corefw.minimum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0] and b.grad.tolist() == [0.5, 0.0, 1.0]


def test_broadcast_gradient_is_summed_to_the_operand_shape(device):
    a = corefw.ones(2, 3, dtype=corefw.float64, requires_grad=True, device=device)
    b = corefw.tensor([[1.0], [2.0]], dtype=corefw.float64, requires_grad=True, device=device)
    (a * b).sum().backward()
    assert b.grad.shape == (2, 1) and b.grad.tolist() == [[3.0], [3.0]]
    assert a.grad.tolist() == [[1.0] * 3, [2.0] * 3]


def test_pow_special_cases(device):
    x = corefw.tensor([0.0, 2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    y = x ** 2
    y.sum().backward()
    assert y.tolist() == [0.0, 4.0, 9.0] and x.grad.tolist() == [0.0, 4.0, 6.0]
    e = corefw.tensor([2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    (corefw.tensor([0.0, 2.0], dtype=corefw.float64, device=device) ** e).sum().backward()
    assert e.grad.tolist() == pytest.approx([0.0, 8.0 * math.log(2.0)])  # 0 ** e: no nan
    e.grad = None
    (0.0 ** e).sum().backward()  # a Python base of 0 too
    assert e.grad.tolist() == [0.0, 0.0]
    with pytest.raises(corefw.errors.DTypeError, match="negative integer powers"):
        corefw.tensor([1, 2], device=device) ** -1
    assert (corefw.tensor([2, 3], device=device) ** 2).tolist() == [4, 9]
    assert (corefw.tensor([4, 9], device=device) ** 0.5).tolist() == [2.0, 3.0]


def test_floor_divide_and_remainder_follow_python_signs(device):
    a = corefw.tensor([7, -7, 7, -7], device=device)
    b = corefw.tensor([2, 2, -2, -2], device=device)
    assert (a // b).tolist() == [7 // 2, -7 // 2, 7 // -2, -7 // -2]
    assert (a % b).tolist() == [7 % 2, -7 % 2, 7 % -2, -7 % -2]
    f = corefw.tensor([5.5, -5.5], device=device)
    assert (f % -2).tolist() == [5.5 % -2, -5.5 % -2]
    assert (f // 2).tolist() == [5.5 // 2, -5.5 // 2]


def test_div_rounding_modes(device):
    a, b = corefw.tensor([7, -7], device=device), corefw.tensor([2, 2], device=device)
    assert corefw.div(a, b, rounding_mode="trunc").tolist() == [3, -3]
    assert corefw.div(a, b, rounding_mode="floor").tolist() == [3, -4]
    assert corefw.div(a, b, rounding_mode="trunc").dtype is corefw.int64
    assert corefw.div(a, b).tolist() == [3.5, -3.5]
    with pytest.raises(ValueError, match="rounding_mode"):
        corefw.div(a, b, rounding_mode="up")


# -- where -----------------------------------------------------------------------------------
def test_where_forward_and_backward(rng, device):
    cond = make(rng.integers(0, 2, (2, 3)).astype(bool), device=device)
    a, b = sample(rng, (2, 3), "real"), sample(rng, (3,), "real")
    check(corefw.where(cond, make(a, layout="strided", device=device), make(b, device=device)),
          np.where(npy(cond) > 0, a, b[None]))
    gradcheck(lambda x, y: corefw.where(cond, x, y), leaf(rng, (2, 3), device=device),
              leaf(rng, (3,), device=device))
    gradcheck(lambda x: corefw.where(cond, x, 0.5), leaf(rng, (2, 3), device=device))
    gradcheck(lambda x: corefw.where(cond, -1.0, x), leaf(rng, (), "real", device=device))


def test_where_dtypes_follow_torch(device):
    cond = corefw.tensor([True, False], device=device)
    assert corefw.where(cond, 1.0, 2.5).dtype is corefw.float32
    assert corefw.where(cond, 1, 2).dtype is corefw.int64
    assert corefw.where(cond, corefw.tensor([1, 2], device=device), 2.5).tolist() == [1.0, 2.5]
    assert corefw.where(cond, corefw.tensor([1, 2], device=device), 2.5).dtype is corefw.float32
    f16 = corefw.tensor([1.0, 2.0], dtype=corefw.float16, device=device)
    assert corefw.where(cond, f16, corefw.tensor(3.0, dtype=corefw.float64,
                                                 device=device)).dtype is corefw.float16
    assert corefw.where(corefw.tensor([1, 0], device=device), 1.0, 0.0).tolist() == [1.0, 0.0]
    assert [t.tolist() for t in corefw.where(corefw.tensor([[0, 1], [1, 0]], device=device))] == \
        [[0, 1], [1, 0]]


# -- softmax family --------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_forward_backward(name, dim, rng, device):
    fn, reference = getattr(corefw, name), getattr(ref, name)
    data = sample(rng, (3, 4), "real") * 3
    for dtype in (corefw.float32, corefw.float64):
        check(fn(make(data, dtype, "strided", device=device), dim), reference(data, dim % 2), dtype)
    gradcheck(lambda t: fn(t, dim), leaf(rng, (2, 3), "real", "strided", device=device))


def test_softmax_edge_cases(device):
    big = corefw.tensor([1000.0, 1000.0, -1000.0], device=device)
    check(corefw.softmax(big, 0), [0.5, 0.5, 0.0])  # stable: no overflow
    check(corefw.log_softmax(big, 0), [-math.log(2), -math.log(2), -2000 - math.log(2)])
    assert corefw.softmax(corefw.tensor(3.0, device=device), 0).item() == 1.0
    assert corefw.softmax(corefw.zeros(0, 3, device=device), 1).shape == (0, 3)
    assert corefw.softmax(corefw.tensor([1, 2], device=device), 0).dtype is corefw.float32
    x = corefw.tensor([[1.0, 2.0]], device=device)
    assert corefw.softmax(x, 1, dtype=corefw.float64).dtype is corefw.float64
    assert corefw.gelu(x, approximate="none").shape == (1, 2)
    with pytest.raises(ValueError, match="approximate"):
        corefw.gelu(x, approximate="fast")


# -- composites: the fast kernel against the decomposition ---------------------------------
COMPOSITES = {  # op name -> (public call, attrs the op receives, domain)
    "sigmoid": (corefw.sigmoid, {}, "real"), "relu": (corefw.relu, {}, "kink"),
    "log1p": (corefw.log1p, {}, "log1p"), "expm1": (corefw.expm1, {}, "real"),
    "rsqrt": (corefw.rsqrt, {}, "pos"), "tan": (corefw.tan, {}, "tan"),
    "reciprocal": (corefw.reciprocal, {}, "pos"),
    "softplus": (corefw.softplus, {"beta": 2.0, "threshold": 1.5}, "real"),
    "silu": (corefw.silu, {}, "real"),
    "gelu": (corefw.gelu, {"approximate": "none"}, "real"),
    "gelu_tanh": (corefw.gelu, {"approximate": "tanh"}, "real"),
    "leaky_relu": (corefw.leaky_relu, {"negative_slope": 0.1}, "kink"),
    "elu": (corefw.elu, {"alpha": 0.7}, "kink"),
    "clamp": (corefw.clamp, {"min": -0.5, "max": 0.5}, "kink"),
    "softmax": (corefw.softmax, {"dim": 1}, "real"),
    "log_softmax": (corefw.log_softmax, {"dim": 0}, "real"),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_kernel_matches_decomposition(name, rng, device):
    fn, attrs, domain = COMPOSITES[name]
    op = get_op(name.replace("_tanh", ""))
    assert op.decomposition is not None and not op.primitive
    for shape, layout in (((3, 4), "strided"), ((0, 4), "contig"), ((), "contig")):
        if name in ("softmax", "log_softmax") and shape == ():
            continue
        x = make(sample(rng, shape, domain), corefw.float64, layout, device=device)
        fast = fn(x, **attrs)
        with corefw.no_grad():
            slow = op.decomposition(x, **attrs)
        check(fast, npy(slow), rtol=1e-12, atol=1e-12)


CHECKED_ELSEWHERE = {"logsumexp": "test_reduction.py", "einsum": "test_linalg.py",
                     "linear": "test_linalg.py", "vector_norm": "test_declarations.py and the kit"}


def test_every_composite_of_the_core_op_modules_is_checked():
    modules = {f"corefw.ops.{m}" for m in ("elementwise", "activation", "reduction", "shape",
                                           "indexing", "linalg")}
    mine = {n for n, op in OPS.items() if not op.primitive and op.decomposition is not None
            and op.decomposition.__module__ in modules}
    checked = {n.replace("_tanh", "") for n in COMPOSITES} | set(CHECKED_ELSEWHERE)
    assert mine and mine <= checked, mine - checked


def test_composites_without_a_kernel_differentiate_through_their_decomposition(rng, device):
    x = leaf(rng, (2, 3), "real", device=device)
    gradcheck(lambda t: get_op("gelu").decomposition(t, approximate="tanh"), x)
    gradcheck(lambda t: get_op("softplus").decomposition(t, beta=1.0, threshold=20.0), x)
