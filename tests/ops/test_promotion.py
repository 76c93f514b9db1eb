"""Property-based tests (hypothesis) of type promotion and broadcasting against PyTorch's
documented rules, plus the examples from the PyTorch docs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import corefw
from corefw.testing import reference as ref

from .helpers import TOL, make, npy

# the ``device`` fixture is a constant string: sharing it between examples is safe
SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
DT = {n: getattr(corefw, n if n != "bool" else "bool_") for n in NAMES}


def _values(draw, name, n):
    if name == "bool":
        return draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if name.startswith(("int", "uint")):
        return draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    # multiples of 1/4 in [-4, 4]: exact in float16, and so are their sums and products
    return [v / 4 for v in draw(st.lists(st.integers(-16, 16), min_size=n, max_size=n))]


@st.composite
def operand(draw, allow_scalar=True):
    """(kind, dtype name, value): a dimensioned tensor, a 0-d tensor or a Python scalar."""
    kind = draw(st.sampled_from(["dim", "zero", "scalar"] if allow_scalar else ["dim", "zero"]))
    if kind == "scalar":
        name = draw(st.sampled_from(["bool", "int64", "float"]))
        (v,) = _values(draw, name if name != "float" else "float32", 1)
        return kind, name, {"bool": bool, "int64": int, "float": float}[name](v)
    name = draw(st.sampled_from(NAMES))
    vals = _values(draw, name, 3)
    value = corefw.tensor(vals if kind == "dim" else vals[0], dtype=DT[name])
    return kind, name, value


def _on(value, device):
    """A drawn operand on ``device`` (Python scalars stay scalars)."""
    return value.to(device) if isinstance(value, corefw.Tensor) else value


def _as_f64(value):
    return npy(value) if isinstance(value, corefw.Tensor) else np.float64(value)


def _expected_values(result, exact):
    """float64 results as the result dtype would hold them (ints wrap like C, modulo 2**n)."""
    np_dtype = DT[result].np
    if np_dtype.kind in "iu":
        return np.asarray(exact).astype(np.int64).astype(np_dtype).astype(np.float64)
    return np.asarray(exact).astype(np_dtype).astype(np.float64)


OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@SETTINGS
@given(a=operand(), b=operand(allow_scalar=False), op=st.sampled_from(sorted(OPS)),
       swap=st.booleans())
def test_arithmetic_promotion_follows_torch(a, b, op, swap, device):
    (ka, na, va), (kb, nb, vb) = (b, a) if swap else (a, b)
    va, vb = _on(va, device), _on(vb, device)
    result = ref.result_type([(ka, na), (kb, nb)])
    fn = OPS[op]
    if op == "-" and result == "bool":  # PyTorch refuses bool subtraction too
        with pytest.raises(TypeError):
            fn(va, vb)
        return
    out = fn(va, vb)
    assert out.dtype is DT[result], (ka, na, kb, nb, op)
    exact = fn(_as_f64(va), _as_f64(vb))
    if result == "bool":
        exact = exact != 0
    np.testing.assert_allclose(npy(out), _expected_values(result, exact), rtol=0, atol=0)
    assert corefw.result_type(va, vb) is DT[result]


@SETTINGS
@given(a=operand(), b=operand(allow_scalar=False), swap=st.booleans())
def test_true_division_promotes_to_float(a, b, swap, device):
    (ka, na, va), (kb, nb, vb) = (b, a) if swap else (a, b)
    va, vb = _on(va, device), _on(vb, device)
    denom = vb if isinstance(vb, corefw.Tensor) else va
    if np.any(npy(denom) == 0):
        return
    result = ref.result_type([(ka, na), (kb, nb)])
    if ref.CATEGORY[result] < 2:
        result = "float32"
    out = va / vb
    assert out.dtype is DT[result]
    exact = _as_f64(va) / _as_f64(vb)
    np.testing.assert_allclose(npy(out), exact, **TOL[DT[result]])


@SETTINGS
@given(a=operand(), b=operand(allow_scalar=False), op=st.sampled_from(["<", "==", ">="]),
       swap=st.booleans())
def test_comparisons_give_bool(a, b, op, swap, device):
    va, vb = (_on(b[2], device), _on(a[2], device)) if swap else \
        (_on(a[2], device), _on(b[2], device))
    fn = {"<": np.less, "==": np.equal, ">=": np.greater_equal}[op]
    out = {"<": lambda: va < vb, "==": lambda: va == vb, ">=": lambda: va >= vb}[op]()
    assert out.dtype is corefw.bool
    np.testing.assert_array_equal(npy(out), fn(_as_f64(va), _as_f64(vb)))


@SETTINGS
@given(names=st.lists(st.sampled_from(NAMES), min_size=2, max_size=2))
def test_promote_types_table(names):
    a, b = names
    assert corefw.promote_types(DT[a], DT[b]) is DT[ref.promote_names(a, b)]
    assert corefw.promote_types(DT[b], DT[a]) is DT[ref.promote_names(a, b)]


def test_documented_examples(device):
    i64 = corefw.tensor([1, 2], device=device)
    f32 = corefw.tensor([1.0, 2.0], device=device)
    assert (i64 + 2.5).dtype is corefw.float32  # int tensor + float scalar: default float
    assert (2.5 * i64).dtype is corefw.float32
    assert (f32 + corefw.tensor(1.0, dtype=corefw.float64, device=device)).dtype is corefw.float32
    assert (i64.int() + f32.half()).dtype is corefw.float16
    assert (corefw.tensor([1], dtype=corefw.uint8, device=device)
            + corefw.tensor([1], dtype=corefw.int8, device=device)).dtype is corefw.int16
    assert (corefw.tensor([True], device=device) + 1).dtype is corefw.int64
    assert (i64 / i64).dtype is corefw.float32 and (i64 / 2).tolist() == [0.5, 1.0]
    i32 = corefw.tensor([1], dtype=corefw.int32, device=device)
    assert (i32 + corefw.tensor(5, device=device)).dtype is corefw.int32
    assert (i32 + corefw.tensor(5.0, dtype=corefw.float64, device=device)) \
        .dtype is corefw.float64  # a 0-d tensor of a higher category decides
    assert (corefw.tensor([1], dtype=corefw.uint8, device=device) + 5).dtype is corefw.uint8
    corefw.set_default_dtype(corefw.float64)
    try:
        assert (i64 * 0.5).dtype is corefw.float64 and (i64 / i64).dtype is corefw.float64
    finally:
        corefw.set_default_dtype(corefw.float32)


# -- broadcasting ---------------------------------------------------------------------------
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum}


def _sum_to(g, shape):
    """Reference of the gradient reduction: sum ``g`` over the broadcast dims of ``shape``."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16), op=st.sampled_from(["add", "mul", "sub", "maximum"]),
       layout=st.sampled_from(["contig", "strided"]))
def test_broadcasting_forward_and_gradient_shapes(shapes, seed, op, layout, device):
    rng = np.random.default_rng(seed)
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)
    ta = make(a, layout=layout if len(sa) else "contig", requires_grad=True, device=device)
    tb = make(b, requires_grad=True, device=device)
    out = getattr(corefw, op)(ta, tb)
    assert out.shape == tuple(out_shape)
    np.testing.assert_allclose(npy(out), BINARY[op](a, b), rtol=1e-12)
    g = rng.uniform(-1, 1, out_shape)
    out.backward(corefw.tensor(g, dtype=corefw.float64, device=device))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    da, db = {"add": (np.ones_like(g), np.ones_like(g)), "sub": (np.ones_like(g), -np.ones_like(g)),
              "mul": (np.broadcast_to(b, out_shape), np.broadcast_to(a, out_shape)),
              "maximum": (np.broadcast_to(a, out_shape) > np.broadcast_to(b, out_shape),
                          np.broadcast_to(a, out_shape) < np.broadcast_to(b, out_shape))}[op]
    np.testing.assert_allclose(npy(ta.grad), _sum_to(g * da, sa), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(npy(tb.grad), _sum_to(g * db, sb), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_where_broadcasts_three_ways(shapes, seed, device):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    c, a, b = rng.integers(0, 2, sc).astype(bool), rng.uniform(-1, 1, sa), rng.uniform(-1, 1, sb)
    out = corefw.where(make(c, device=device), make(a, device=device), make(b, device=device))
    assert out.shape == tuple(shapes.result_shape)
    np.testing.assert_array_equal(npy(out), np.where(c, a, b))


def test_shapes_that_do_not_broadcast_raise_a_shape_error(device):
    with pytest.raises(corefw.errors.ShapeError, match=r"\(2, 3\) and \(2,\)"):
        corefw.ones(2, 3, device=device) + corefw.ones(2, device=device)
    with pytest.raises(ValueError):  # ShapeError is also a ValueError
        corefw.ones(3, 1, 2, device=device) * corefw.ones(4, 3, device=device)
