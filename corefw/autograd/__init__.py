"""Reverse-mode automatic differentiation: ``backward``, ``grad``, grad modes, custom
Functions, gradcheck, anomaly detection, saved-tensor hooks (``graph``), scoped VJP overrides
and module provenance."""

from __future__ import annotations

from .._graph.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .function import Function, FunctionCtx
from .._graph.grad_mode import (
    enable_grad,
    enforce_grad_layout_policy,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from .override import (
    active_overrides,
    override_vjp,
    record_module_provenance,
)
from .run import backward, grad
from . import functional  # noqa: E402  (torch.autograd.functional: jacobian, hessian ...)
from . import graph  # noqa: E402  (torch.autograd.graph: saved_tensors_hooks, save_on_cpu)


class set_multithreading_enabled:  # noqa: N801 - PyTorch's name
    """Context manager (and call) switching multithreaded backward; corefw's backward always
    runs in the calling thread, so this records the mode for PyTorch code that sets it."""

    enabled = True

    def __init__(self, mode: bool) -> None:
        self.prev, self.mode = set_multithreading_enabled.enabled, bool(mode)
        set_multithreading_enabled.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        set_multithreading_enabled.enabled = self.prev
        return False

__all__ = ["Function", "FunctionCtx", "active_overrides", "backward", "detect_anomaly",
           "enable_grad", "enforce_grad_layout_policy", "grad",
           "gradcheck", "gradgradcheck", "inference_mode", "is_anomaly_enabled",
           "is_grad_enabled", "is_inference_mode_enabled", "no_grad", "override_vjp",
           "record_module_provenance", "set_detect_anomaly", "set_grad_enabled",
           "set_multithreading_enabled", "functional", "graph"]
