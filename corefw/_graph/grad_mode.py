"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``
(and ``enforce_grad_layout_policy``, recorded only).

Each is a context manager and a decorator, as in PyTorch.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["enable_grad", "enforce_grad_layout_policy", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled", "no_grad", "set_grad_enabled"]


class _State(threading.local):
    """Per-thread autograd state. ``saved_hooks``, ``overrides`` (op name -> VJP rule, see
    :func:`~corefw.autograd.override_vjp`) and ``provenance`` (module provenance depth) are
    scoped to the thread that entered them, like grad mode."""

    enabled = True
    inference = False
    overrides: dict = {}  # never mutated: each change installs a new dict
    override_stack: tuple = ()
    provenance = 0
    modules: list | None = None  # the module stack while provenance is recorded
    # saved-tensor hooks (corefw.autograd.graph): the innermost (pack, unpack) pair or None,
    # the pairs entered before it, and the message while disable_saved_tensors_hooks is on
    saved_hooks: tuple | None = None
    saved_hooks_stack: tuple = ()
    saved_hooks_disabled: str | None = None
    grad_layout_policy = True  # enforce_grad_layout_policy: recorded, nothing to enforce


STATE = _State()
#: How many saved_tensors_hooks contexts are active in all threads together: the hot path
#: reads this plain global first, the (slower) thread-local STATE.saved_hooks only when > 0.
SAVED_HOOKS = [0]


def is_grad_enabled() -> bool:
    """Whether ops record the graph for autograd in this thread."""
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    """Whether :class:`inference_mode` is active in this thread."""
    return STATE.inference


class _GradModeContext:
    _mode = True

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._mode
        return None

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):  # noqa: N801
    """Disable graph recording: results of ops do not require grad."""

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Enable graph recording (e.g. inside a ``no_grad`` block)."""

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Set grad mode; works as a function call, a context manager and a decorator."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = STATE.enabled
        STATE.enabled = self._mode  # as a plain call it takes effect at once, like PyTorch

    def __enter__(self):
        return None

    def __call__(self, fn):
        STATE.enabled = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode(_GradModeContext):  # noqa: N801
    """Like ``no_grad`` (corefw has no extra inference-only tensor kind); ``mode=False`` is a
    no-op, as in PyTorch."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = not mode if mode else STATE.enabled
        self._inf = mode

    def __enter__(self):
        self._prev = STATE.enabled
        self._prev_inf = STATE.inference
        if self._inf:
            STATE.enabled = False
            STATE.inference = True
        return None

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        STATE.inference = self._prev_inf
        return False

    def __call__(self, fn):
        inf = self._inf

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(inf):
                return fn(*args, **kwargs)
        return wrapper


class enforce_grad_layout_policy(_GradModeContext):  # noqa: N801 - PyTorch's name
    """PyTorch's switch for its gradient layout contract (``.grad`` strides made to match the
    parameter's); a context manager and a plain call, thread-local. corefw has no such
    contract to enforce -- a ``.grad`` has whatever layout the backend's kernel gave it, as
    PyTorch with ``enable=False`` allows -- so the mode is recorded and changes nothing."""

    def __init__(self, enable: bool = True) -> None:
        self._mode = bool(enable)
        self._prev = STATE.grad_layout_policy
        STATE.grad_layout_policy = self._mode  # as a plain call it takes effect at once

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        STATE.grad_layout_policy = self._prev
        return False

    def clone(self) -> enforce_grad_layout_policy:
        """A copy with the same mode (PyTorch's ``clone``); entering it changes nothing new."""
        out = enforce_grad_layout_policy.__new__(enforce_grad_layout_policy)
        out._mode, out._prev = self._mode, self._prev
        return out

    def __call__(self, fn):
        STATE.grad_layout_policy = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with enforce_grad_layout_policy(mode):
                return fn(*args, **kwargs)
        return wrapper
