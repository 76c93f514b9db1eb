"""corefw_jax._jit: one jax.jit per kernel signature, traced scalar operands, static attributes
keyed by type and value, eager fallback for value-dependent shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax", reason="corefw-jax is not installed")

import jax.numpy as jnp  # noqa: E402
from corefw_jax._jit import eager_jit  # noqa: E402


def counted(fn):
    """``fn`` and the list its Python body appends to: once per trace (= per compile)."""
    traces: list = []

    def body(*args, **kwargs):
        traces.append(1)
        return fn(*args, **kwargs)

    return body, traces


def test_scalar_operands_are_traced_and_share_one_executable():
    body, traces = counted(lambda x, s: x * s)
    k = eager_jit(jax, body, scalar_operands=True)
    x = jnp.arange(4.0, dtype=jnp.float32)
    np.testing.assert_array_equal(k(x, 2.0), [0, 2, 4, 6])
    np.testing.assert_array_equal(k(x, 3.0), [0, 3, 6, 9])
    assert len(traces) == 1
    assert k(x, 3.0).dtype == jnp.float32  # weakly typed, as in eager jax.numpy
    k(x, 2)  # an int scalar is another signature
    assert len(traces) == 2


def test_static_attributes_keyed_by_type_and_value():
    body, traces = counted(lambda x, *, v: jnp.full(x.shape, v, dtype=x.dtype))
    k = eager_jit(jax, body)
    x = jnp.zeros(2, dtype=jnp.float32)
    assert not np.signbit(np.asarray(k(x, v=0.0))).any()
    assert np.signbit(np.asarray(k(x, v=-0.0))).all()  # -0.0 == 0.0 in Python
    assert len(traces) == 2
    k(x, v=math.nan)
    k(x, v=math.nan)  # NaN != NaN, but the same attribute: no new compile
    assert len(traces) == 3
    assert k(jnp.zeros(2, dtype=jnp.int32), v=True).dtype == jnp.int32
    k(x, v=1)
    k(x, v=1.0)  # 1 == 1.0 == True in Python: three signatures
    assert len(traces) == 6


def test_keys_with_index_arrays_and_boolean_masks():
    body, traces = counted(lambda x, *, key: x[key])
    k = eager_jit(jax, body)
    x = jnp.arange(10, dtype=jnp.int32)
    np.testing.assert_array_equal(k(x, key=(jnp.array([1, 3]),)), [1, 3])
    np.testing.assert_array_equal(k(x, key=(jnp.array([2, 5]),)), [2, 5])
    np.testing.assert_array_equal(k(x, key=(slice(1, 8, 3),)), [1, 4, 7])
    assert len(traces) == 2  # the index array is traced, the slice static
    mask = jnp.arange(10) > 6  # value-dependent shape: runs eagerly, still right
    np.testing.assert_array_equal(k(x, key=(mask,)), [7, 8, 9])
    np.testing.assert_array_equal(k(x, key=([0, 2],)), [0, 2])  # a list stays a list


def test_inside_an_outer_trace_the_kernel_is_inlined():
    k = eager_jit(jax, lambda x, s: x + s, scalar_operands=True)
    np.testing.assert_array_equal(jax.jit(lambda x: k(x, 1.0) * 2)(jnp.ones(3)), [4, 4, 4])
