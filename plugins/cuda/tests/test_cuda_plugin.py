"""corefw-cuda without a GPU: registration, the reported reason, errors, lazy import, and the
pieces of the backend whose logic can run without a device (device scopes, the random stream's
state, the scatter-add dtype routing, the probe's reasons)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import types

import corefw_cuda
import numpy as np
import pytest
from corefw_cuda import _cupy
from corefw_cuda.backend import CupyBackend, PhiloxStream, _DeviceScope, _make_add_at, _mix

import corefw
import corefw.dispatch
from corefw.errors import BackendUnavailableError, DeviceError

BLOCK_CUPY = "import sys; sys.modules['cupy'] = None; sys.modules['cupyx'] = None; "


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_cuda_backend_is_registered_by_the_plugin():
    backend = corefw.dispatch.backends()["cuda"]
    assert isinstance(backend, CupyBackend)
    assert backend is corefw_cuda.get_backend()
    assert backend.device_type == "cuda" and backend.name == "cupy"


def test_without_cupy_plugin_loads_and_reports_the_reason():
    code = BLOCK_CUPY + (
        "import json, corefw, corefw.dispatch, corefw_cuda\n"
        "from corefw.errors import BackendUnavailableError\n"
        "b = corefw.dispatch.backends()['cuda']\n"
        "out = {'available': b.is_available(), 'reason': b.unavailable_reason(),\n"
        "       'count': corefw_cuda.device_count()}\n"
        "try:\n"
        "    corefw.tensor([1.0, 2.0], device='cuda')\n"
        "except BackendUnavailableError as exc:\n"
        "    out['error'] = str(exc)\n"
        "corefw_cuda.empty_cache()\n"
        "corefw.manual_seed(3)\n"
        "out['rng_keys'] = sorted(corefw.get_rng_state())\n"
        "print(json.dumps(out))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["available"] is False and out["count"] == 0
    assert out["reason"].startswith("cupy is not installed")
    assert "corefw-cuda[cuda12]" in out["reason"]
    assert "device 'cuda' is unavailable: cupy is not installed" in out["error"]
    assert "cuda" not in out["rng_keys"]


def test_corefw_plugins_lists_cuda_as_unavailable_without_cupy():
    proc = _run(BLOCK_CUPY + "from corefw.cli import main; raise SystemExit(main(['plugins']))")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("cuda"))
    assert "corefw-cuda" in line and "unavailable: cupy is not installed" in line
    proc = _run(BLOCK_CUPY + "from corefw.cli import main; "
                "raise SystemExit(main(['plugins', '--json']))")
    rec = next(r for r in json.loads(proc.stdout) if r["name"] == "cuda")
    assert rec["status"] == "unavailable" and rec["registers"]["device_types"] == ["cuda"]


def test_import_corefw_and_cpu_work_never_import_cupy():
    proc = _run("import sys, corefw, corefw_cuda, corefw.dispatch\n"
                "x = corefw.randn(3, 4, requires_grad=True); (x * x).sum().backward()\n"
                "assert 'cuda' in corefw.dispatch.backends()\n"
                "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cupy', 'cupyx')))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.skipif(corefw_cuda.is_available(), reason="a CUDA device is present")
def test_unavailable_device_errors_name_the_reason():
    reason = corefw_cuda.unavailable_reason()
    assert reason
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(BackendUnavailableError, match="is unavailable: " + reason[:20]):
            corefw.zeros(2).to(spec)
    with pytest.raises(DeviceError):  # BackendUnavailableError is a DeviceError
        corefw.ones(2, device="cuda")
    with pytest.raises(BackendUnavailableError, match="cuda is unavailable"):
        corefw_cuda.synchronize()
    with pytest.raises(BackendUnavailableError):
        corefw_cuda.memory_stats()
    corefw_cuda.empty_cache()  # a no-op
    assert corefw_cuda.device_count() == 0 and not corefw_cuda.is_available()
    assert corefw.dispatch.backends()["cuda"].kernels == {}


def test_device_arguments_of_helpers():
    assert corefw_cuda._index(None) == 0 and corefw_cuda._index(2) == 2
    assert corefw_cuda._index("cuda:1") == 1 and corefw_cuda._index(corefw.device("cuda")) == 0
    with pytest.raises(DeviceError, match="expected a cuda device"):
        corefw_cuda._index("cpu")


# -- the probe's reasons, with a stand-in cupy --------------------------------------------------
def _fake_cupy(count=None, error=None):
    def get_count():
        if error is not None:
            raise error
        return count

    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


@pytest.mark.parametrize("fake,reason", [
    (_fake_cupy(count=0), "no CUDA device"),
    (_fake_cupy(error=RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")),
     "no CUDA device: cudaErrorNoDevice: no CUDA-capable device is detected"),
    (_fake_cupy(count=2), None),
])
def test_probe_reasons(monkeypatch, fake, reason):
    monkeypatch.setitem(sys.modules, "cupy", fake)
    cp, count, why = _cupy._probe()
    assert why == reason
    assert count == (2 if reason is None else 0)


def test_probe_reports_a_broken_cupy(monkeypatch):
    class Broken(types.ModuleType):
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "cupy", None)
    assert _cupy._probe()[2].startswith("cupy is not installed")
    monkeypatch.setitem(sys.modules, "cupy", Broken("cupy"))
    assert _cupy._probe()[2].startswith("no CUDA device: ")


def test_probe_without_a_driver_does_not_import_cupy(monkeypatch):
    def no_library(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(_cupy.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(_cupy.ctypes, "CDLL", no_library)
    cp, count, why = _cupy._probe()
    assert (cp, count) == (None, 0) and "cupy" not in sys.modules
    assert why.startswith("no CUDA device: no NVIDIA driver found")


def test_probe_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(_cupy.importlib.util, "find_spec", lambda name: None)
    assert _cupy._probe()[2].startswith("cupy is not installed (pip install")


# -- device scopes ------------------------------------------------------------------------------
class _Runtime:
    def __init__(self):
        self.current = 0
        self.calls = []

    def getDevice(self):  # noqa: N802 - CUDA's name
        return self.current

    def setDevice(self, i):  # noqa: N802
        self.calls.append(i)
        self.current = i


def test_device_scope_is_reentrant_and_restores():
    rt = _Runtime()
    one, two = _DeviceScope(rt, 1), _DeviceScope(rt, 2)
    with one:
        assert rt.current == 1
        with one:
            with two:
                assert rt.current == 2
            assert rt.current == 1
        assert rt.current == 1
    assert rt.current == 0
    assert rt.calls == [1, 2, 1, 0]  # no switch when the device is already current


def test_device_scope_keeps_one_stack_per_thread():
    rt = _Runtime()
    scope = _DeviceScope(rt, 1)
    seen = []

    def worker():
        with scope:
            seen.append(len(scope._tls.stack))

    with scope:
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert len(scope._tls.stack) == 1
    assert seen == [1]


# -- the random stream's state ---------------------------------------------------------------
class _FakeRandomState:
    seeds: list = []

    def __init__(self, seed, method):
        assert method == 161  # CURAND_RNG_PSEUDO_PHILOX4_32_10

    def seed(self, s):
        _FakeRandomState.seeds.append(s)

    def random_sample(self, shape, dtype):
        return np.full(shape, _FakeRandomState.seeds[-1] % 1000 / 1000, dtype=dtype)


def _fake_cp():
    runtime = types.SimpleNamespace(getDevice=lambda: 0)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime),
                                 random=types.SimpleNamespace(RandomState=_FakeRandomState),
                                 empty=np.empty)


def test_philox_stream_state_replays_exactly():
    _FakeRandomState.seeds = []
    stream = PhiloxStream(_fake_cp(), 7)
    stream.uniform((2,), 0.0, 1.0, np.float32)
    saved = (stream.seed, stream.calls)
    a = stream.uniform((3,), 0.0, 1.0, np.float32)
    b = stream.uniform((3,), 0.0, 1.0, np.float32)
    stream.seed, stream.calls = saved
    np.testing.assert_array_equal(stream.uniform((3,), 0.0, 1.0, np.float32), a)
    np.testing.assert_array_equal(stream.uniform((3,), 0.0, 1.0, np.float32), b)
    assert _FakeRandomState.seeds == [_mix(7, 0), _mix(7, 1), _mix(7, 2), _mix(7, 1),
                                      _mix(7, 2)]
    assert stream.uniform((0, 4), 0.0, 1.0, np.float32).shape == (0, 4)  # no draw
    assert stream.calls == 3


def test_mix_gives_distinct_seeds():
    seeds = {_mix(s, k) for s in range(50) for k in range(50)}
    assert len(seeds) == 2500 and all(0 <= s < 2 ** 64 for s in seeds)


# -- scatter-add dtype routing, with numpy standing in for cupy -----------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "int8",
                                   "uint8", "int16", "bool"])
def test_add_at_routes_every_dtype(monkeypatch, dtype):
    calls = []

    def scatter_add(a, key, values):
        calls.append(a.dtype)
        np.add.at(a, key, values)

    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=scatter_add))
    add_at = _make_add_at(np)
    a = np.array([1, 0, 120, 5], dtype=dtype)
    values = np.array([1, 1, 100, 1]).astype(dtype if dtype != "bool" else "int64")
    add_at(a, np.array([0, 0, 2, 3]), values)
    want = np.array([1, 0, 120, 5]).astype(np.int64)
    np.add.at(want, [0, 0, 2, 3], np.array([1, 1, 100, 1]))
    if dtype == "bool":
        np.testing.assert_array_equal(a, want != 0)
    else:
        np.testing.assert_array_equal(a, want.astype(dtype))  # int8/uint8 wrap like numpy
    native = {"float32", "float64", "float16", "int32"}
    expect = dtype if dtype in native else ("uint64" if dtype == "int64" else "int32")
    assert calls == [np.dtype(expect)]


def test_int64_add_at_handles_negative_values(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=np.add.at))
    a = np.array([5, -3], dtype=np.int64)
    _make_add_at(np)(a, np.array([0, 1, 1]), np.array([-10, -2, 7]))
    np.testing.assert_array_equal(a, [-5, 2])


def test_a_backend_that_cannot_be_built_is_unavailable_with_the_reason(monkeypatch):
    import corefw_cuda.backend as backend_module

    monkeypatch.setattr(backend_module, "probe", lambda: (object(), 1, None))
    backend = CupyBackend()

    def broken(cp):
        raise OSError("libcublas.so.12: cannot open shared object file")

    monkeypatch.setattr(backend, "_setup", broken)
    assert backend.is_available() is False
    assert backend.unavailable_reason() == (
        "cupy found 1 device(s) but the backend could not be built: OSError: libcublas.so.12: "
        "cannot open shared object file")
    assert backend.kernels == {}
    with pytest.raises(BackendUnavailableError, match="could not be built"):
        backend.memory_stats()
