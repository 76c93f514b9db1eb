"""corefw.testing.assert_close: PyTorch's default tolerances per dtype (checked just inside
and just outside each bound), structure walking, attribute checks and messages."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.testing import assert_close


@pytest.mark.parametrize("dtype, rtol, atol", [
    (corefw.float32, 1.3e-6, 1e-5), (corefw.float64, 1e-7, 1e-7), (corefw.float16, 1e-3, 1e-5),
])
def test_default_tolerances(dtype, rtol, atol):
    expected = 1000.0  # |diff| allowed: atol + rtol * 1000
    bound = atol + rtol * expected
    ok = corefw.tensor([expected + 0.5 * bound], dtype=dtype)
    bad = corefw.tensor([expected + 3 * bound], dtype=dtype)
    ref = corefw.tensor([expected], dtype=dtype)
    if dtype != corefw.float16:  # float16 cannot hold 1000 + 0.5 * bound apart from 1000
        assert_close(ok, ref)
    with pytest.raises(AssertionError, match="Tensor-likes are not close"):
        assert_close(bad, ref)


def test_integers_compare_exactly_and_explicit_tolerances():
    assert_close(corefw.tensor([1, 2]), corefw.tensor([1, 2]))
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 2"):
        assert_close(corefw.tensor([1, 2]), corefw.tensor([1, 3]))
    assert_close(corefw.tensor([1.0]), corefw.tensor([1.5]), rtol=0, atol=0.5)
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        assert_close(corefw.tensor([1.0]), corefw.tensor([1.0]), rtol=1e-3)


def test_messages_name_the_worst_elements():
    with pytest.raises(AssertionError) as info:
        assert_close(corefw.tensor([[1.0, 2.0], [3.0, 4.0]]),
                     corefw.tensor([[1.0, 2.5], [3.0, 8.0]]))
    text = str(info.value)
    assert "Mismatched elements: 2 / 4 (50.0%)" in text
    assert "Greatest absolute difference: 4.0 at index (1, 1) (up to 1e-05 allowed)" in text
    assert "Greatest relative difference: 0.5 at index (1, 1)" in text
    with pytest.raises(AssertionError, match="custom"):
        assert_close(corefw.tensor(1.0), corefw.tensor(2.0), msg="custom")


def test_attributes_nan_and_structures():
    with pytest.raises(AssertionError, match="'dtype' do not match"):
        assert_close(corefw.tensor([1.0]), corefw.tensor([1.0], dtype=corefw.float64))
    assert_close(corefw.tensor([1.0]), corefw.tensor([1.0], dtype=corefw.float64),
                 check_dtype=False)
    with pytest.raises(AssertionError, match="'shape' do not match"):
        assert_close(corefw.zeros(2), corefw.zeros(3))
    nan = corefw.tensor([float("nan"), float("inf")])
    with pytest.raises(AssertionError):
        assert_close(nan, nan)
    assert_close(nan, nan, equal_nan=True)
    assert_close({"a": [corefw.ones(2), 3]}, {"a": [corefw.ones(2), 3]})
    with pytest.raises(AssertionError, match=r"at item \['a'\]\[1\]"):
        assert_close({"a": [corefw.ones(2), 3]}, {"a": [corefw.ones(2), 4]})
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(TypeError, match="no comparison pair"):
        assert_close(object(), object())
