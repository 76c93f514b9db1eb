"""Reverse-mode automatic differentiation: ``backward``, ``grad``, grad modes, custom
Functions, gradcheck, anomaly detection, scoped VJP overrides and module provenance."""

from __future__ import annotations

from . import provenance  # noqa: F401  (Module.__call__ uses it)
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from .override import override_vjp, record_module_provenance
from .run import backward, grad

__all__ = ["Function", "FunctionCtx", "backward", "detect_anomaly", "enable_grad", "grad",
           "gradcheck", "gradgradcheck", "inference_mode", "is_anomaly_enabled",
           "is_grad_enabled", "is_inference_mode_enabled", "no_grad", "override_vjp",
           "record_module_provenance", "set_detect_anomaly", "set_grad_enabled"]
