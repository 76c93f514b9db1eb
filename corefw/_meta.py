"""The ``meta`` device: tensors with shape, dtype and ``requires_grad`` but no storage.

Its kernels are the ops' shape/dtype rules (:mod:`corefw._registry`), so every op -- and a
whole model's forward and backward -- runs on it without allocating: parameter counts, output
shapes and memory estimates for models of any size, and the tracing that ``corefw.compile``
and ONNX export build on. Ops without a rule run their decomposition, as on any backend.
Reading values (``item()``, ``numpy()``) raises. As in PyTorch, ``meta`` is the core's own
device, not a plugin: it belongs to the rules, not to any array library.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._registry import OPS, OpDef
from ._rules import Spec, spec
from .errors import CorefwError, DeviceError

__all__ = ["MetaBackend"]

_ALL_DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64", "float16",
                         "bfloat16", "float32", "float64"})


def _rule_kernel(op: OpDef) -> Callable:
    rule = op.rule

    def kernel(*operands, **attrs):
        try:
            return rule(*operands, **attrs)
        except CorefwError as exc:
            raise type(exc)(f"{op.name}: {exc}") from None

    kernel.__name__ = f"meta_{op.name}"
    return kernel


class MetaBackend:
    """The :class:`~corefw.backend.protocol.Backend` of the ``meta`` device."""

    name = "meta"
    device_type = "meta"
    capabilities = frozenset({"broadcast", "abstract"})
    dtypes = _ALL_DTYPES

    @property
    def kernels(self) -> dict[str, Callable]:
        """A rule-runner for every op with a rule (the dispatcher asks again whenever an op
        is declared, so plugins' ops are covered too)."""
        return {name: _rule_kernel(op) for name, op in OPS.items() if op.rule is not None}

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self) -> None:
        return None

    def device_count(self) -> int:
        return 1

    def device_context(self, index: int) -> None:
        return None

    def from_host(self, array, index: int = 0, non_blocking: bool = False) -> Spec:
        return spec(tuple(np.shape(array)), np.asarray(array).dtype if not hasattr(
            array, "dtype") else array.dtype)

    def to_host(self, array) -> np.ndarray:
        raise DeviceError("meta tensors have no data: they carry only shape and dtype. "
                          "Materialise the model on a real device (module.to_empty(device=..."
                          ") then initialise it) to read values")

    def manual_seed(self, seed: int) -> None:
        return None

    def get_rng_state(self) -> np.ndarray:
        return np.zeros(0, np.uint8)

    def set_rng_state(self, state) -> None:
        return None

    def synchronize(self, index: int | None = None) -> None:
        return None

    def memory_stats(self, index: int = 0) -> dict[str, int]:
        return {}

    def __repr__(self) -> str:
        return "<MetaBackend 'meta'>"
