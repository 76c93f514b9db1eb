"""matmul and einsum: dtype rules, the error messages, gradients of hand-computable cases.
Values and gradients of every form (1-D to N-D, batch broadcasting, empty, mm/mv/dot/bmm; einsum
batch, trace, ellipsis, implicit output, bilinear; linear) are rows of the op table
(corefw.testing, run by test_op_table.py), through the kernels and the decompositions."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import ShapeError

from .helpers import npy


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


def test_matmul_family_checks_its_shapes(device):
    ta, tb, tv = (corefw.ones(*s, device=device) for s in ((2, 3), (3, 4), (3,)))
    for fn, args in ((corefw.mm, (tv, tb)), (corefw.bmm, (ta, tb)), (corefw.dot, (ta, tv))):
        with pytest.raises(ShapeError):
            fn(*args)


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


def test_einsum_takes_a_list_of_operands(device):
    a, b = corefw.ones(2, 3, device=device), corefw.ones(3, 4, device=device)
    assert corefw.einsum("ij,jk", [a, b]).tolist() == [[3.0] * 4] * 2
