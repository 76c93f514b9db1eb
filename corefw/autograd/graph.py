"""``corefw.autograd.graph``: hooks on the tensors the graph saves for backward, as in PyTorch.

    def pack(x):                      # called when an op saves x for backward
        return x.numpy()
    def unpack(a):                    # called when backward reads it
        return corefw.tensor(a)

    with corefw.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = (x * w).sum()
    y.backward()

The hooks see every tensor an op saves: the operands its VJP reads (the op's declared
``saves``) and, where the VJP reads it, its output -- not operands the op does not keep (those
are shape-only stand-ins in the graph). Hooks belong to the thread that entered them, like grad
mode; nested contexts use the innermost pair. A node recorded under hooks unpacks with those
hooks whenever backward runs; nodes recorded outside never call them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._graph.grad_mode import SAVED_HOOKS, STATE
from ..errors import AutogradError

__all__ = ["disable_saved_tensors_hooks", "save_on_cpu", "saved_tensors_hooks"]

_COUNT_LOCK = threading.Lock()  # SAVED_HOOKS counts the contexts of every thread


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Context manager: ``pack_hook(tensor) -> anything`` runs on each tensor an op saves for
    backward while the context is active, and ``unpack_hook(packed) -> Tensor`` when backward
    needs it back (once per use: twice for a graph run twice with ``retain_graph=True``).

    ``unpack_hook`` must return a tensor of the saved tensor's shape (PyTorch does not check
    the shape; corefw raises rather than broadcast a wrong one). ``pack_hook`` runs with grad
    mode off and must not modify its input in place. As in PyTorch, the version of a packed
    tensor is not checked at backward: what the hook kept is what backward reads.
    """

    def __init__(self, pack_hook: Callable[[Any], Any],
                 unpack_hook: Callable[[Any], Any]) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        msg = STATE.saved_hooks_disabled
        if msg is not None:
            raise AutogradError(msg)
        STATE.saved_hooks_stack = STATE.saved_hooks_stack + (STATE.saved_hooks,)
        STATE.saved_hooks = (self.pack_hook, self.unpack_hook)
        with _COUNT_LOCK:
            SAVED_HOOKS[0] += 1
        return None

    def __exit__(self, *exc) -> bool:
        stack = STATE.saved_hooks_stack
        STATE.saved_hooks = stack[-1]
        STATE.saved_hooks_stack = stack[:-1]
        with _COUNT_LOCK:
            SAVED_HOOKS[0] -= 1
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 - PyTorch's name
    """Saved tensors are kept on the cpu device and moved back to their own device when backward
    needs them (trading device memory for transfers). ``pin_memory`` is accepted for PyTorch
    compatibility: corefw has no page-locked host memory, so it changes nothing;
    ``device_type`` is accepted and unused, as the device is each tensor's own."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        self.pin_memory = bool(pin_memory)
        self.device_type = device_type

        def pack(tensor):
            return tensor.device, tensor.cpu()

        def unpack(packed):
            dev, tensor = packed
            return tensor.to(dev)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Context manager (and decorator) under which entering :class:`saved_tensors_hooks` (or
    :class:`save_on_cpu`) raises ``AutogradError(error_message)``: for code whose graph must
    not be changed by such hooks. Entering it while hooks are active raises the same error,
    as in PyTorch."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self) -> None:
        if STATE.saved_hooks is not None:
            raise AutogradError(self.error_message)
        self._prev = STATE.saved_hooks_disabled
        STATE.saved_hooks_disabled = self.error_message
        return None

    def __exit__(self, *exc) -> bool:
        STATE.saved_hooks_disabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)
        return wrapper
