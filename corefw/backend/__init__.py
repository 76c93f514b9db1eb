"""Backends: the device contract and the toolkit that implements it over array modules."""

from .._dtype import on_bfloat16
from .protocol import CAPABILITIES, Backend
from .toolkit import ArrayModuleBackend, array_kernels, composite_kernels

__all__ = ["CAPABILITIES", "ArrayModuleBackend", "Backend", "array_kernels",
           "composite_kernels", "on_bfloat16"]
