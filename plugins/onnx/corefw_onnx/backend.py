"""An ``onnx.backend.base.Backend`` over corefw: ONNX's own backend tests run through it.

``CorefwBackend.prepare(model, device="cpu")`` loads the model with :func:`corefw_onnx.load`
and moves it to the corefw device named ``device`` (any registered backend: ``cpu``,
``cuda``, a third party's); ``rep.run(inputs)`` returns the outputs as NumPy arrays.
:func:`run_node_case` runs one of ONNX's node test cases and classifies the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep

import corefw

from ._import import load
from .errors import UnsupportedOnnxError

__all__ = ["CorefwBackend", "CorefwRep", "node_cases", "run_node_case"]

#: NumPy dtypes corefw tensors can hold (the others make a test "unsupported").
DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}


class CorefwRep(BackendRep):
    """A loaded model on one corefw device."""

    def __init__(self, module, device: str) -> None:
        self.module = module
        self.device = device

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in self.module._inputs]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        args = [corefw.tensor(np.asarray(x), device=self.device) for x in inputs]
        with corefw.no_grad():
            out = self.module(*args)
        out = out if isinstance(out, tuple) else (out,)
        return tuple(o.cpu().numpy() if isinstance(o, corefw.Tensor) else o for o in out)


class CorefwBackend(Backend):
    """``onnx.backend.base.Backend`` running models with corefw ops."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "cpu", **kwargs: Any) -> CorefwRep:
        device = "cpu" if device == "CPU" else device
        return CorefwRep(load(model).to(device), device)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "cpu",
                  **kwargs: Any) -> tuple:
        return cls.prepare(model, device).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            corefw.dispatch.device_of("cpu" if device == "CPU" else device)
        except Exception:  # noqa: BLE001 - an unknown device name
            return False
        return True


def node_cases(modules: list[str] | None = None) -> dict:
    """ONNX's backend node test cases by name: all of them (``collect_testcases``, ~20 s), or
    only those of the given ``onnx.backend.test.case.node`` modules (``["add", "conv"]``:
    importing a module runs its exports, which register its cases)."""
    import importlib
    import warnings

    from onnx.backend.test.case import node as cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if modules is None:
            return {c.name: c for c in cases.collect_testcases(None)}
        cases._TargetOpType = None
        for m in modules:
            importlib.import_module(f"{cases.__name__}.{m}")
    return {c.name: c for c in cases._NodeTestCases}


def _array(x):
    return numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x


def run_node_case(case, device: str = "cpu") -> tuple[str, str]:
    """Run one ``onnx.backend.test.case`` test case: ``("pass" | "fail" | "unsupported",
    detail)``. Unsupported: an operator/attribute corefw-onnx refuses, or a dtype corefw has
    no tensors of (strings, bfloat16, float8, complex, unsigned >8 bits) or the device's
    backend does not hold."""
    held = DTYPES & set(corefw.dispatch.device_of(device).backend.dtypes)
    for inputs, outputs in case.data_sets:
        inputs, outputs = [_array(x) for x in inputs], [_array(x) for x in outputs]
        arrays = list(inputs) + list(outputs)
        bad = [np.asarray(a).dtype.name for a in arrays if not isinstance(a, (list, dict))
               and np.asarray(a).dtype.name not in held]
        if bad or any(isinstance(a, (list, dict)) for a in arrays):
            return "unsupported", f"dtype {bad[0] if bad else 'sequence/map'}"
        try:
            rep = CorefwBackend.prepare(case.model, device)
            got = rep.run(list(inputs))
        except UnsupportedOnnxError as exc:
            return "unsupported", str(exc)[:200]
        except Exception as exc:  # noqa: BLE001 - a failing case is reported, not raised
            return "fail", f"{type(exc).__name__}: {str(exc)[:200]}"
        if len(got) < len(outputs):
            return "fail", f"{len(got)} outputs, expected {len(outputs)}"
        for g, ref in zip(got, outputs):
            ref = np.asarray(ref)
            if g.shape != ref.shape:
                return "fail", f"shape {g.shape}, expected {ref.shape}"
            if g.dtype != ref.dtype:
                return "fail", f"dtype {g.dtype}, expected {ref.dtype}"
            try:
                np.testing.assert_allclose(g, ref, rtol=case.rtol, atol=case.atol)
            except AssertionError:
                return "fail", "values differ"
    return "pass", ""
