"""corefw_jax._lazy: kernels recorded as lazy arrays, every run between two reads one cached
``jax.jit`` graph; traced scalar operands, static attributes keyed by type and value, eager
fallback for value-dependent shapes, values equal to the eager kernels'."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax", reason="corefw-jax is not installed")

import jax.numpy as jnp  # noqa: E402
from corefw_jax._lazy import HOT, Engine, LazyArray  # noqa: E402

import corefw  # noqa: E402


@pytest.fixture
def engine():
    corefw.zeros(1, device="jax")  # builds the backend, which makes the process's engine
    eng = Engine.get(jax)
    eng.sync()
    return eng


def counted(fn):
    """``fn`` and the list its Python body appends to: once per trace."""
    traces: list = []

    def body(*args, **kwargs):
        traces.append(1)
        return fn(*args, **kwargs)

    return body, traces


def test_a_run_of_kernels_is_one_graph_cached_by_structure(engine):
    host = np.random.default_rng(0).standard_normal((3, 4))
    before = engine.graphs
    x = corefw.tensor(host, device="jax", requires_grad=True)
    y = (x * x).sum(1).exp()
    y.sum().backward()
    assert isinstance(y._data, LazyArray) and "pending" in repr(y._data)
    assert y.shape == (3,) and y.dtype == corefw.float64  # known without computing
    np.testing.assert_allclose(x.grad.numpy(), 2 * host * np.exp((host ** 2).sum(1))[:, None],
                               rtol=1e-12)
    np.testing.assert_allclose(y.detach().numpy(), np.exp((host ** 2).sum(1)), rtol=1e-12)
    assert engine.graphs == before + 1  # the forward, backward and y in one graph
    body, traces = counted(lambda a, b: a * b + 1.0)
    k = engine.lazy(body)
    compiles: list = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, _, **kw: compiles.append(1) if event.endswith("backend_compile_duration")
        else None)
    for run in range(1, HOT + 3):  # new values, same shapes: no new trace ...
        a = engine.wrap(jax.device_put(np.random.default_rng(run).standard_normal(5)))
        out = k(a, a)
        np.testing.assert_allclose(np.asarray(out), np.asarray(a.value()) ** 2 + 1.0)
        assert len(traces) == 2  # once for the shape, once into the graph
        # ... one cheap compile, and an optimised one when the graph turns hot
        assert len(compiles) == (1 if run <= HOT else 2)


def test_scalar_operands_are_traced_and_share_one_graph(engine):
    body, traces = counted(lambda x, s: x * s)
    k = engine.lazy(body, scalar_operands=True)
    x = engine.wrap(jnp.arange(4.0, dtype=jnp.float32))
    np.testing.assert_array_equal(np.asarray(k(x, 2.0)), [0, 2, 4, 6])
    np.testing.assert_array_equal(np.asarray(k(x, 3.0)), [0, 3, 6, 9])
    assert len(traces) == 2
    assert k(x, 3.0).dtype == np.float32  # weakly typed, as in eager jax.numpy
    np.asarray(k(x, 2))  # an int scalar is another signature
    assert len(traces) == 4


def test_static_attributes_keyed_by_type_and_value(engine):
    body, traces = counted(lambda x, *, v: jnp.full(x.shape, v, dtype=x.dtype))
    k = engine.lazy(body)
    x = engine.wrap(jnp.zeros(2, dtype=jnp.float32))
    assert not np.signbit(np.asarray(k(x, v=0.0))).any()
    assert np.signbit(np.asarray(k(x, v=-0.0))).all()  # -0.0 == 0.0 in Python
    assert len(traces) == 4
    np.asarray(k(x, v=math.nan))
    np.asarray(k(x, v=math.nan))  # NaN != NaN, but the same attribute: no new trace
    assert len(traces) == 6
    assert k(engine.wrap(jnp.zeros(2, dtype=jnp.int32)), v=True).dtype == np.int32
    assert len(traces) == 7  # its shape only: never read
    for v in (1, 1.0):  # 1 == 1.0 == True in Python: three signatures
        np.asarray(k(x, v=v))
    assert len(traces) == 11


def test_keys_with_index_arrays_and_boolean_masks(engine):
    body, traces = counted(lambda x, *, key: x[key])
    k = engine.lazy(body)
    x = engine.wrap(jnp.arange(10, dtype=jnp.int32))
    idx = [engine.wrap(jnp.array(i)) for i in ([1, 3], [2, 5])]
    np.testing.assert_array_equal(np.asarray(k(x, key=(idx[0],))), [1, 3])
    np.testing.assert_array_equal(np.asarray(k(x, key=(idx[1],))), [2, 5])
    np.testing.assert_array_equal(np.asarray(k(x, key=(slice(1, 8, 3),))), [1, 4, 7])
    assert len(traces) == 4  # the index array is traced, the slice static
    mask = engine.wrap(jnp.arange(10) > 6)  # value-dependent shape: runs eagerly, still right
    np.testing.assert_array_equal(np.asarray(k(x, key=(mask,))), [7, 8, 9])
    np.testing.assert_array_equal(np.asarray(k(x, key=([0, 2],))), [0, 2])  # a list stays one
    # through the backend, a mask becomes its indices (NumPy's definition): no eager kernel
    host = np.arange(24.0).reshape(2, 3, 4)
    t = corefw.tensor(host, device="jax")
    m = host[0] % 3 == 0
    tm = corefw.tensor(m, device="jax")
    np.testing.assert_array_equal(t[:, tm].numpy(), host[:, m])
    np.testing.assert_array_equal(t[..., corefw.tensor(m[0], device="jax")].numpy(),
                                  host[..., m[0]])
    u = t.clone()
    u[:, tm] = -1.0
    want = host.copy()
    want[:, m] = -1.0
    np.testing.assert_array_equal(u.numpy(), want)
    np.testing.assert_array_equal(corefw.nonzero(t > 20).numpy(), np.argwhere(host > 20))


def test_errors_are_raised_when_recorded_not_when_read(engine):
    a = corefw.ones(3, device="jax")
    with pytest.raises(corefw.errors.ShapeError):
        a + corefw.ones(4, device="jax")


def test_float16_is_rounded_after_every_kernel(engine):
    rng = np.random.default_rng(1)
    x, y, z = (rng.standard_normal(64).astype(np.float16) * 8 for _ in range(3))
    tx, ty, tz = (corefw.tensor(v, device="jax") for v in (x, y, z))
    got = ((tx * ty + tz) * ty).numpy()
    want = ((x * y + z) * y)  # NumPy rounds every float16 operation to float16
    np.testing.assert_array_equal(got, want)
    x32, y32, z32 = (v.astype(np.float32) for v in (x, y, z))
    fused = ((x32 * y32 + z32) * y32).astype(np.float16)  # rounded once at the end
    assert (fused != want).any()  # so the check above can tell the two apart


def test_pending_calls_sync_at_the_limit(engine):
    old, engine.limit = engine.limit, 8
    try:
        before = engine.graphs
        t = corefw.zeros(3, device="jax")
        for _ in range(20):
            t = t + 1.0
        assert engine.graphs >= before + 2  # synced on its own, nothing read yet
        np.testing.assert_array_equal(t.numpy(), [20.0] * 3)
    finally:
        engine.limit = old


def test_inside_an_outer_trace_the_kernel_is_inlined(engine):
    k = engine.lazy(lambda x, s: x + s, scalar_operands=True)
    np.testing.assert_array_equal(jax.jit(lambda x: k(x, 1.0) * 2)(jnp.ones(3)), [4, 4, 4])
