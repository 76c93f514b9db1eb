"""matmul (1-D to N-D, batch broadcasting, errors) and einsum (matrix product, batch, trace,
outer, diagonal, ellipsis, implicit output): forward against the reference computed from the
definition, backward by gradcheck, the fast kernel against the decomposition."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import ShapeError
from corefw.ops.linalg import linear
from corefw.ops.registry import get_op

from . import reference as ref
from .helpers import check, gradcheck, leaf, make, npy, sample

MATMUL = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
          ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((2, 1, 2, 3), (3, 3, 2)),
          ((2, 2, 3), (3,)), ((2, 0), (0, 3)), ((0, 2, 3), (3, 1))]
MATMUL_IDS = ["dot", "mv", "vm", "mm", "batch-mat", "vec-batch", "broadcast-batch",
              "batch-vec", "empty-k", "empty-batch"]


@pytest.mark.parametrize("sa,sb", MATMUL, ids=MATMUL_IDS)
def test_matmul_forward(sa, sb, rng, device):
    a, b = sample(rng, sa), sample(rng, sb)
    for dtype in (corefw.float32, corefw.float64):
        la = "transposed" if len(sa) >= 2 else "contig"
        lb = "strided" if len(sb) >= 2 else "contig"
        out = make(a, dtype, la, device=device) @ make(b, dtype, lb, device=device)
        assert out.dtype is dtype
        check(out, ref.matmul(a, b), dtype, rtol=1e-5 if dtype is corefw.float32 else 1e-10)
        check(corefw.matmul(make(a, dtype, device=device), make(b, dtype, device=device)),
              ref.matmul(a, b), dtype, rtol=1e-5)


@pytest.mark.parametrize("sa,sb", MATMUL[:8], ids=MATMUL_IDS[:8])
def test_matmul_backward(sa, sb, rng, device):
    gradcheck(corefw.matmul, leaf(rng, sa, device=device), leaf(rng, sb, device=device))


def test_matmul_int_and_mixed_dtypes(device):
    i = corefw.tensor([[1, 2], [3, 4]], device=device)
    assert (i @ i).tolist() == [[7, 10], [15, 22]] and (i @ i).dtype is corefw.int64
    assert (i @ corefw.ones(2, 2, device=device)).dtype is corefw.float32
    assert (corefw.ones(2, 2, device=device) @ corefw.ones(2, 2, dtype=corefw.float64,
                                                           device=device)).dtype is corefw.float64


def test_matmul_errors_name_the_shapes(device):
    with pytest.raises(ShapeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                         r"\(2x3 and 4x5\)"):
        corefw.ones(2, 3, device=device) @ corefw.ones(4, 5, device=device)
    with pytest.raises(ShapeError, match=r"\(2x3x4 and 3x5\)"):
        corefw.ones(2, 3, 4, device=device) @ corefw.ones(3, 5, device=device)
    with pytest.raises(ShapeError, match=r"\(1x3 and 4x1\)"):
        corefw.ones(3, device=device) @ corefw.ones(4, device=device)
    with pytest.raises(ShapeError, match="at least 1 dimension"):
        corefw.tensor(2.0, device=device) @ corefw.ones(3, device=device)
    with pytest.raises(ShapeError, match="broadcast"):
        corefw.ones(2, 3, 4, device=device) @ corefw.ones(3, 4, 5, device=device)
    with pytest.raises(TypeError, match="tensors"):
        corefw.matmul(corefw.ones(2, 2, device=device), [[1.0, 0.0], [0.0, 1.0]])


def test_matmul_family(rng, device):
    a, b, v = sample(rng, (2, 3)), sample(rng, (3, 4)), sample(rng, (3,))
    ta, tb, tv = (make(x, device=device) for x in (a, b, v))
    check(corefw.mm(ta, tb), ref.matmul(a, b))
    check(ta.mm(tb), ref.matmul(a, b))
    check(corefw.mv(ta, tv), ref.matmul(a, v))
    check(corefw.dot(tv, tv), ref.matmul(v, v))
    check(corefw.outer(tv, make(a[0], device=device)), v[:, None] * a[0][None, :])
    ba, bb = sample(rng, (2, 2, 3)), sample(rng, (2, 3, 4))
    check(corefw.bmm(make(ba, device=device), make(bb, device=device)), ref.matmul(ba, bb))
    for fn, args in ((corefw.mm, (tv, tb)), (corefw.bmm, (ta, tb)), (corefw.dot, (ta, tv))):
        with pytest.raises(ShapeError):
            fn(*args)


EINSUM = {  # id -> (equation, explicit equation for the reference, operand shapes)
    "matrix": ("ij,jk->ik", "ij,jk->ik", [(2, 3), (3, 4)]),
    "batch": ("bij,bjk->bik", "bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    "trace": ("ii->", "ii->", [(3, 3)]),
    "trace_implicit": ("ii", "ii->", [(3, 3)]),
    "diagonal": ("ii->i", "ii->i", [(3, 3)]),
    "outer": ("i,j->ij", "i,j->ij", [(3,), (2,)]),
    "transpose": ("ij->ji", "ij->ji", [(2, 3)]),
    "sum_all": ("ij->", "ij->", [(2, 3)]),
    "implicit": ("ij,jk", "ij,jk->ik", [(2, 3), (3, 4)]),
    "implicit_sorted": ("ba", "ba->ab", [(2, 3)]),
    "ellipsis": ("...ij,...jk->...ik", "zij,zjk->zik", [(2, 2, 3), (2, 3, 2)]),
    "ellipsis_broadcast": ("...ij,...jk->...ik", "yzij,yzjk->yzik",
                           [(2, 1, 2, 3), (3, 3, 2)]),
    "bilinear": ("bn,anm,bm->ba", "bn,anm,bm->ba", [(2, 3), (2, 3, 4), (2, 4)]),
    "dot": ("i,i->", "i,i->", [(4,), (4,)]),
}


def _operands(shapes, rng):
    return [sample(rng, s) for s in shapes]


def _ref_operands(equation, arrays):
    """Left-pad broadcast ellipsis operands with 1s to the reference's explicit letters."""
    lhs = equation.split("->")[0].split(",")
    return [a.reshape((1,) * (len(t) - a.ndim) + a.shape) for t, a in zip(lhs, arrays)]


@pytest.mark.parametrize("name", sorted(EINSUM))
def test_einsum_forward_backward_and_decomposition(name, rng, device):
    eq, explicit, shapes = EINSUM[name]
    arrays = _operands(shapes, rng)
    expected = ref.einsum(explicit, *_ref_operands(explicit, arrays))
    xs = [make(a, layout="strided" if a.ndim == 2 else "contig", device=device) for a in arrays]
    check(corefw.einsum(eq, *xs), expected)
    check(corefw.einsum(eq, xs), expected)  # a list of operands works too
    with corefw.no_grad():
        check(get_op("einsum").decomposition(*xs, equation=eq), expected)
    gradcheck(lambda *ts: corefw.einsum(eq, *ts), *(leaf(rng, s, device=device) for s in shapes))


def test_einsum_errors(device):
    with pytest.raises(ShapeError, match="subscript 'j' has size 3 in operand 0 but size 4"):
        corefw.einsum("ij,jk->ik", corefw.ones(2, 3, device=device),
                      corefw.ones(4, 5, device=device))
    with pytest.raises(ShapeError, match="names 2 operands, got 1"):
        corefw.einsum("ij,jk->ik", corefw.ones(2, 3, device=device))
    with pytest.raises(ShapeError, match="do not match operand of shape"):
        corefw.einsum("ijk->i", corefw.ones(2, 3, device=device))


def test_einsum_gradient_of_trace_is_the_identity(device):
    x = corefw.randn(3, 3, dtype=corefw.float64, requires_grad=True, device=device)
    corefw.einsum("ii->", x).backward()
    np.testing.assert_array_equal(npy(x.grad), np.eye(3))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4), (0, 4)],
                         ids=["1d", "2d", "3d", "empty"])
def test_linear_forward_backward_and_decomposition(shape, bias, rng, device):
    x, w, b = sample(rng, shape), sample(rng, (5, 4)), sample(rng, (5,))
    tx, tw = make(x, device=device), make(w, layout="strided", device=device)
    tb = make(b, device=device) if bias else None
    expected = ref.matmul(x, w.T) + (b if bias else 0.0)
    check(linear(tx, tw, tb), expected)
    with corefw.no_grad():
        check(get_op("linear").decomposition(tx, tw, tb), expected)
    if x.size:
        args = [leaf(rng, shape, device=device), leaf(rng, (5, 4), device=device)]
        args += [leaf(rng, (5,), device=device)] if bias else []
        gradcheck(lambda *ts: linear(*ts) if bias else linear(*ts, None), *args)
