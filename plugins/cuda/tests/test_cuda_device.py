"""On a GPU: corefw on ``cuda`` against corefw on ``cpu``, op by op, layer by layer, and a
training step, within each dtype's tolerance; transfers, seeding, memory, streams, DLPack, and
the fused kernels against their references.

Every test here carries the ``cuda`` marker: without a usable GPU they are skipped with the
reason (``cupy is not installed``, ``no CUDA device: ...``). Run on a GPU machine with
``python -m pytest plugins/cuda/tests -m cuda -v``.
"""

from __future__ import annotations

import corefw_cuda
import numpy as np
import pytest
from corefw_cuda.kernels import REFERENCES, adam_step_reference

import corefw
import corefw.nn
import corefw.nn.functional as F
from corefw.errors import BackendUnavailableError, DeviceError

pytestmark = pytest.mark.cuda

TOL = {corefw.float64: dict(rtol=1e-9, atol=1e-10), corefw.float32: dict(rtol=2e-4, atol=2e-5),
       corefw.float16: dict(rtol=2e-2, atol=2e-2)}
FLOATS = [corefw.float32, corefw.float64]
HALF = [corefw.float16]


def _u(*shape, lo=-2.0, hi=2.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def _pos(*shape):
    return _u(*shape, lo=0.5, hi=2.0)


def _idx(high, *shape):
    return lambda rng: rng.integers(0, high, shape)


# id, fn(*tensors), input makers, differentiable, runs in float16 too
OPS = [
    ("add_broadcast", lambda a, b: a + b, [_u(3, 4), _u(4)], True, True),
    ("sub", lambda a, b: a - b, [_u(3, 4), _u(3, 4)], True, True),
    ("mul_scalar", lambda a: a * 3.5 - 1, [_u(5, 2)], True, True),
    ("div", lambda a, b: a / b, [_u(3, 4), _pos(3, 4)], True, True),
    ("pow", lambda a, b: a ** b, [_pos(3, 4), _u(3, 4)], True, False),
    ("maximum", corefw.maximum, [_u(3, 4), _u(3, 4)], True, True),
    ("neg_abs_sign", lambda a: -a.abs() * a.sign(), [_u(4, 3)], True, True),
    ("exp_log", lambda a: a.exp() + a.abs().log(), [_u(3, 4)], True, True),
    ("sqrt_rsqrt", lambda a: a.sqrt() + a.rsqrt(), [_pos(3, 4)], True, True),
    ("trig", lambda a: a.sin() * a.cos() + a.tanh(), [_u(3, 4)], True, True),
    ("floor_ceil_round", lambda a: a.floor() + a.ceil() + a.round(), [_u(3, 4)], False, True),
    ("erf", corefw.erf, [_u(3, 4)], True, False),
    ("sigmoid", corefw.sigmoid, [_u(3, 4)], True, True),
    ("relu", F.relu, [_u(3, 4)], True, True),
    ("gelu", F.gelu, [_u(3, 4)], True, True),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [_u(3, 4)], True, True),
    ("silu", F.silu, [_u(3, 4)], True, True),
    ("softplus", F.softplus, [_u(3, 4)], True, False),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.1), [_u(3, 4)], True, False),
    ("clamp", lambda a: a.clamp(-0.5, 0.7), [_u(3, 4)], True, True),
    ("where", lambda a, b: corefw.where(a > b, a, b * 2), [_u(3, 4), _u(3, 4)], True, True),
    ("compare", lambda a, b: (a < b).to(a.dtype) + (a >= b).to(a.dtype),
     [_u(3, 4), _u(3, 4)], False, True),
    ("sum_dim", lambda a: a.sum(1), [_u(3, 4, 5)], True, True),
    ("sum_all", lambda a: a.sum(), [_u(6, 7)], True, True),
    ("mean_keepdim", lambda a: a.mean((0, 2), keepdim=True), [_u(3, 4, 5)], True, True),
    ("var_std", lambda a: a.var(1) + a.std(0).sum(), [_u(4, 5)], True, False),
    ("prod", lambda a: a.prod(1), [_pos(3, 4)], True, False),
    ("amax", lambda a: a.amax(1), [_u(3, 4)], True, True),
    ("max_values", lambda a: a.max(0)[0], [_u(3, 4)], True, True),
    ("argmax", lambda a: a.argmax(1).to(a.dtype), [_u(3, 7)], False, True),
    ("cumsum", lambda a: a.cumsum(1), [_u(3, 5)], True, False),
    ("logsumexp", lambda a: a.logsumexp(1), [_u(3, 5)], True, False),
    ("softmax", lambda a: F.softmax(a, 1), [_u(4, 6)], True, True),
    ("softmax_dim0", lambda a: F.softmax(a * 5, 0), [_u(4, 6)], True, True),
    ("log_softmax", lambda a: F.log_softmax(a, -1), [_u(2, 3, 6)], True, True),
    ("reshape_permute", lambda a: a.reshape(4, 6).permute(1, 0) * 2, [_u(2, 3, 4)], True,
     True),
    ("expand", lambda a: a.expand(3, 4, 5) + 0, [_u(4, 1)], True, True),
    ("flip_slice", lambda a: a.flip(1)[1:, ::2], [_u(4, 6)], True, True),
    ("pad", lambda a: F.pad(a, (1, 2, 0, 1), value=0.5), [_u(3, 4)], True, True),
    ("cat_stack", lambda a, b: corefw.cat([a, b], 1) * corefw.stack([a, b], 2).reshape(2, 6),
     [_u(2, 3), _u(2, 3)], True, True),
    ("gather", lambda a, i: corefw.gather(a, 1, i), [_u(3, 5), _idx(5, 3, 4)], True, True),
    ("scatter_add", lambda a, i, s: corefw.scatter_add(a, 1, i, s),
     [_u(3, 5), _idx(5, 3, 4), _u(3, 4)], True, False),
    ("index_int", lambda a, i: a[i], [_u(6, 3), _idx(6, 5)], True, True),
    ("masked_fill", lambda a: a.masked_fill(a > 0.5, 0.0), [_u(3, 4)], True, True),
    ("matmul", corefw.matmul, [_u(5, 7), _u(7, 3)], True, True),
    ("bmm_broadcast", corefw.matmul, [_u(2, 3, 5, 4), _u(4, 6)], True, True),
    ("einsum", lambda a, b: corefw.einsum("bij,bjk->bik", a, b), [_u(2, 3, 4), _u(2, 4, 5)],
     True, False),
    ("linear", F.linear, [_u(4, 6), _u(3, 6), _u(3)], True, True),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1),
     [_u(2, 3, 8, 8), _u(4, 3, 3, 3), _u(4)], True, True),
    ("conv2d_strided_groups", lambda x, w: F.conv2d(x, w, stride=2, padding=(1, 0),
                                                    dilation=(1, 2), groups=2),
     [_u(2, 4, 9, 9), _u(6, 2, 3, 2)], True, False),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [_u(2, 3, 8, 8)], True, True),
    ("max_pool2d_pad_ceil", lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
     [_u(2, 3, 9, 8)], True, False),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False),
     [_u(2, 3, 9, 8)], True, True),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     [_u(4, 3, 5, 5), _u(3), _u(3)], True, False),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (6,), w, b), [_u(4, 6), _u(6), _u(6)],
     True, True),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), [_u(2, 4, 3, 3), _u(4), _u(4)],
     True, False),
    ("cross_entropy", lambda x, t: F.cross_entropy(x, t), [_u(8, 5), _idx(5, 8)], True, True),
    ("cross_entropy_weighted_smooth", lambda x, t, w: F.cross_entropy(
        x, t, weight=w, label_smoothing=0.1, reduction="sum"),
     [_u(8, 5), _idx(5, 8), _pos(5)], True, False),
    ("nll_loss", lambda x, t: F.nll_loss(F.log_softmax(x, 1), t), [_u(8, 5), _idx(5, 8)],
     True, False),
    ("mse_loss", F.mse_loss, [_u(4, 3), _u(4, 3)], True, True),
    ("embedding", lambda w, i: F.embedding(i, w), [_u(10, 4), _idx(10, 3, 5)], True, False),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     [_u(2, 5, 4), _u(2, 5, 4), _u(2, 5, 4)], True, False),
]


def _cases():
    for name, fn, makers, grad, half in OPS:
        for dtype in FLOATS + (HALF if half else []):
            yield pytest.param(fn, makers, grad and dtype != corefw.float16, dtype,
                               id=f"{name}-{dtype}")


def _tensors(arrays, dtype, device, grad):
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            out.append(corefw.tensor(a, dtype=dtype, device=device, requires_grad=grad))
        else:
            out.append(corefw.tensor(a, device=device))
    return out


@pytest.mark.parametrize("fn,makers,grad,dtype", list(_cases()))
def test_op_on_cuda_matches_cpu(rng, fn, makers, grad, dtype):
    arrays = [make(rng) for make in makers]
    cpu = _tensors(arrays, dtype, "cpu", grad)
    gpu = _tensors(arrays, dtype, "cuda", grad)
    want, got = fn(*cpu), fn(*gpu)
    assert got.device.type == "cuda" and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got.detach().cpu().numpy().astype(np.float64),
                               want.detach().numpy().astype(np.float64), **TOL[dtype])
    if not grad:
        return
    w = rng.uniform(-1, 1, want.shape)
    (want * corefw.tensor(w, dtype=dtype)).sum().backward()
    (got * corefw.tensor(w, dtype=dtype, device="cuda")).sum().backward()
    for c, g in zip(cpu, gpu):
        if c.requires_grad:
            assert g.grad.device.type == "cuda"
            np.testing.assert_allclose(g.grad.cpu().numpy(), c.grad.numpy(), **TOL[dtype])


def test_demo_cnn_training_steps_match_cpu(rng):
    from corefw.demo import build_model

    corefw.manual_seed(0)
    m_cpu = build_model("cnn")
    m_gpu = build_model("cnn")
    m_gpu.load_state_dict(m_cpu.state_dict())
    m_gpu.to("cuda")
    assert all(p.device.type == "cuda" for p in m_gpu.parameters())
    opt_cpu = corefw.optim.Adam(m_cpu.parameters(), lr=1e-2)
    opt_gpu = corefw.optim.Adam(m_gpu.parameters(), lr=1e-2)
    for _ in range(3):
        x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 16)
        losses = []
        for model, opt, dev in ((m_cpu, opt_cpu, "cpu"), (m_gpu, opt_gpu, "cuda")):
            opt.zero_grad()
            loss = F.cross_entropy(model(corefw.tensor(x, device=dev)),
                                   corefw.tensor(y, device=dev))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    for (name, p), q in zip(m_cpu.named_parameters(), m_gpu.parameters()):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


# -- transfers -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64",
                                   "float16", "float32", "float64"])
def test_round_trip_every_dtype(rng, dtype):
    a = (rng.normal(size=(3, 5)) * 50).astype(dtype)
    t = corefw.tensor(a, device="cuda")
    assert t.device == corefw.device("cuda:0") and t.is_cuda
    back = t.cpu()
    assert back.device.type == "cpu" and back.dtype == t.dtype
    np.testing.assert_array_equal(back.numpy(), a)
    np.testing.assert_array_equal(corefw.from_numpy(a).to("cuda").cpu().numpy(), a)


def test_non_blocking_and_pinned_transfers(rng):
    backend = corefw_cuda.get_backend()
    a = rng.normal(size=(256, 64)).astype(np.float32)
    dev = backend.from_host(a, 0, non_blocking=True)
    host = backend.to_host(dev * 2, non_blocking=True)
    corefw_cuda.synchronize()
    np.testing.assert_array_equal(host, a * 2)
    pinned = backend.pin_memory(a)
    np.testing.assert_array_equal(backend.from_host(pinned, 0, non_blocking=True).get(), a)
    t = corefw.tensor(a).to("cuda", non_blocking=True)
    corefw_cuda.synchronize()
    np.testing.assert_array_equal(t.cpu().numpy(), a)


def test_device_to_device_copy(rng):
    backend = corefw_cuda.get_backend()
    a = rng.normal(size=(4, 5))
    x = corefw.tensor(a, device="cuda")
    last = corefw_cuda.device_count() - 1
    y = backend.copy_to_device(x._data[:, 1:], last)
    assert int(y.device.id) == last
    np.testing.assert_array_equal(y.get(), a[:, 1:])
    z = x.to(f"cuda:{last}")
    assert z.device.index == last
    np.testing.assert_array_equal((z * 2).cpu().numpy(), a * 2)


@pytest.mark.skipif("corefw_cuda.device_count() < 2", reason="needs two CUDA devices")
def test_two_devices_do_not_mix():
    x, y = corefw.ones(3, device="cuda:0"), corefw.ones(3, device="cuda:1")
    assert (y + y).device == corefw.device("cuda:1")
    with pytest.raises(DeviceError, match="cuda:1"):
        x + y


def test_missing_device_index_is_a_clear_error():
    n = corefw_cuda.device_count()
    with pytest.raises(BackendUnavailableError, match=f"has {n} cuda device"):
        corefw.zeros(2, device=f"cuda:{n}")


# -- random numbers --------------------------------------------------------------------------
def test_seeding_and_rng_state_replay():
    corefw.manual_seed(123)
    a = corefw.randn(1000, device="cuda")
    corefw.manual_seed(123)
    b = corefw.randn(1000, device="cuda")
    np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    state = corefw.get_rng_state()
    assert "cuda" in state
    c = corefw.rand(7, 3, device="cuda")
    corefw.set_rng_state(state)
    np.testing.assert_array_equal(corefw.rand(7, 3, device="cuda").cpu().numpy(),
                                  c.cpu().numpy())
    assert not np.array_equal(a.cpu().numpy(), corefw.randn(1000, device="cuda").cpu().numpy())


@pytest.mark.parametrize("dtype", [corefw.float16, corefw.float32, corefw.float64])
def test_random_distributions(dtype):
    n = 200_000
    u = corefw.rand(n, device="cuda", dtype=dtype).cpu().numpy().astype(np.float64)
    assert u.min() >= 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.01
    z = corefw.randn(n, device="cuda", dtype=dtype).cpu().numpy().astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert corefw.randn(3, 0, device="cuda").shape == (3, 0)


def test_random_integers_and_permutations():
    r = corefw.randint(3, 9, (10_000,), device="cuda").cpu().numpy()
    assert r.dtype == np.int64 and r.min() == 3 and r.max() == 8
    p = corefw.randperm(1000, device="cuda").cpu().numpy()
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    assert corefw.randperm(0, device="cuda").shape == (0,)


# -- memory, streams, DLPack ------------------------------------------------------------------
def test_memory_stats_and_empty_cache():
    corefw_cuda.empty_cache()
    before = corefw_cuda.memory_stats()
    assert set(before) >= {"bytes_in_use", "bytes_reserved", "device_bytes_total"}
    x = corefw.empty(64, 1024, 1024, device="cuda")  # 256 MiB of float32
    assert corefw_cuda.memory_allocated() >= before["bytes_in_use"] + x.numel() * 4
    del x
    corefw_cuda.empty_cache()
    assert corefw_cuda.memory_reserved() <= before["bytes_reserved"] + 2 ** 20
    assert corefw_cuda.device_name()


def test_stream_context_and_synchronize(rng):
    a = rng.normal(size=(512, 512)).astype(np.float32)
    x = corefw.tensor(a, device="cuda")
    with corefw_cuda.stream() as s:
        assert corefw_cuda.current_stream().ptr == s.ptr
        y = x @ x
    s.synchronize()
    np.testing.assert_allclose(y.cpu().numpy(), a @ a, rtol=1e-3, atol=1e-3)
    corefw_cuda.synchronize(0)
    corefw_cuda.synchronize("cuda:0")


def test_dlpack_with_cupy():
    import cupy

    x = corefw.arange(6, dtype=corefw.float32, device="cuda")
    c = cupy.from_dlpack(x)
    c[0] = 42  # shares memory
    assert x[0].item() == 42
    back = corefw.from_dlpack(cupy.arange(4, dtype=cupy.float32))
    assert back.device.type == "cuda"
    np.testing.assert_array_equal(back.cpu().numpy(), np.arange(4))


def test_dlpack_with_torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    x = corefw.arange(5, dtype=corefw.float32, device="cuda")
    tt = torch.from_dlpack(x)
    assert tt.is_cuda
    tt.mul_(2)
    np.testing.assert_array_equal(x.cpu().numpy(), np.arange(5) * 2)
    back = corefw.from_dlpack(torch.ones(3, device="cuda"))
    assert back.device.type == "cuda" and back.sum().item() == 3


# -- the fused kernels against their references ------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name,attrs", [("gelu", {}), ("gelu", {"approximate": "tanh"}),
                                        ("silu", {}), ("sigmoid", {}),
                                        ("softmax", {"dim": 1}), ("softmax", {"dim": 0}),
                                        ("log_softmax", {"dim": 1})])
def test_fused_kernel_matches_reference(rng, name, attrs, dtype):
    import cupy

    kernel = corefw_cuda.get_backend().kernels[name]
    x = cupy.asarray((rng.normal(size=(33, 70)) * 4).astype(dtype))
    got = kernel(x, **attrs)
    want = REFERENCES[name](cupy, x.astype(np.float64), **attrs)
    assert got.dtype == x.dtype and got.shape == x.shape
    tol = TOL[corefw.float16 if dtype == "float16" else corefw.float32 if dtype == "float32"
              else corefw.float64]
    np.testing.assert_allclose(cupy.asnumpy(got).astype(np.float64), cupy.asnumpy(want), **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("decoupled", [False, True])
def test_fused_adam_step_matches_reference(rng, dtype, decoupled):
    import cupy

    kernel = corefw_cuda.get_backend().kernels["adam_step_"]
    p, g = rng.normal(size=(2, 1000)).astype(dtype)
    state_gpu = [cupy.asarray(p), cupy.zeros(1000, dtype), cupy.zeros(1000, dtype)]
    state_cpu = [p.copy(), np.zeros(1000, dtype), np.zeros(1000, dtype)]
    opts = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                decoupled=decoupled, maximize=False)
    for step in (1, 2, 3):
        kernel(state_gpu[0], cupy.asarray(g), state_gpu[1], state_gpu[2], step=step, **opts)
        adam_step_reference(np, state_cpu[0], g, state_cpu[1], state_cpu[2], step=step, **opts)
    for a, b in zip(state_gpu, state_cpu):
        np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_every_fast_kernel_matches_its_decomposition_on_cuda(rng):
    """The xp-generic nn kernels, compiled by cupy, against the decompositions on cuda."""
    from corefw.ops.registry import OPS

    x = corefw.tensor(rng.normal(size=(2, 4, 7, 6)), dtype=corefw.float32, device="cuda")
    w = corefw.tensor(rng.normal(size=(6, 2, 3, 3)), dtype=corefw.float32, device="cuda")
    geo = dict(stride=(2, 1), padding=((1, 1), (0, 2)), dilation=(1, 1), groups=2)
    table = corefw_cuda.get_backend().kernels
    got = table["conv2d"](x._data, w._data, None, **geo)
    with corefw.no_grad():
        want = OPS["conv2d"].decomposition(x, w, None, **geo)
    np.testing.assert_allclose(got.get(), want.cpu().numpy(), rtol=1e-4, atol=1e-4)
