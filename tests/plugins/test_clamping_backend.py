"""The conformance kit fails a backend that silently clamps out-of-range indices (as JAX's
gathers do), and passes the same backend once it checks its bounds."""

from __future__ import annotations

_CLAMPING = '''
import numpy as np
from corefw.backend import ArrayModuleBackend
from corefw.plugins import hookimpl, register_plugin
from corefw.testing import run_conformance


def clip(key, shape):
    """Clamp every integer-array part of an index key into range, like jnp's default mode."""
    parts = key if isinstance(key, tuple) else (key,)
    out, dim = [], 0
    for k in parts:
        if isinstance(k, np.ndarray) and k.dtype.kind in "iu":
            out.append(np.clip(k, -shape[dim], shape[dim] - 1))
        else:
            out.append(k)
        dim += 0 if k is None or k is Ellipsis else 1
    return tuple(out)


class ClampingBackend(ArrayModuleBackend):
    def __init__(self, device_type, checked):
        super().__init__(np, device_type=device_type, name="clamping-numpy")
        if checked:
            return
        k = self.kernels
        index, gather, scatter_add = k["index"], k["gather"], k["scatter_add"]
        put, put_ = k["index_put"], k["index_put_"]
        k["index"] = lambda x, key: index(x, clip(key, x.shape))
        k["gather"] = lambda x, i, dim: gather(x, np.clip(i, 0, x.shape[dim] - 1), dim)
        k["scatter_add"] = lambda x, i, src, dim: scatter_add(
            x, np.clip(i, 0, x.shape[dim] - 1), src, dim)
        k["index_put"] = lambda x, v, key, accumulate: put(x, v, clip(key, x.shape), accumulate)
        k["index_put_"] = lambda x, v, key, accumulate: put_(x, v, clip(key, x.shape),
                                                             accumulate)


for dev_type, checked in (("clampdev", False), ("checkdev", True)):
    plugin = type("P", (), {"COREFW_PLUGIN_API": ">=1,<2", "register_backends": staticmethod(
        hookimpl(lambda register, t=dev_type, c=checked: register(ClampingBackend(t, c))))})
    plugin.register_backends.__name__ = "register_backends"
    register_plugin(plugin, name=dev_type)
    rep = run_conformance(dev_type, ops=["gather"], dtypes=["float32", "int64"])
    res = rep.checks["errors-index"]
    out[dev_type] = [res.status, res.reason]
    out[dev_type + "-gather"] = corefw.gather(
        corefw.arange(4.0, device=dev_type), 0, corefw.tensor([1, 2], device=dev_type)).tolist()
'''


def test_the_kit_fails_a_clamping_backend(snippet):
    out = snippet(_CLAMPING)
    # the clamping backend computes in-range gathers right: only the bounds check can tell
    assert out["clampdev-gather"] == out["checkdev-gather"] == [1.0, 2.0]
    status, reason = out["clampdev"]
    assert status == "fail", reason
    assert "tensor: no error was raised" in reason  # an out-of-range index went through
    assert out["checkdev"] == ["pass", ""]
