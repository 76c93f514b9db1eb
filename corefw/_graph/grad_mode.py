"""Thread-local grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Each is a context manager and a decorator, as in PyTorch.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["enable_grad", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled",
           "no_grad", "set_grad_enabled"]


class _State(threading.local):
    """Per-thread autograd state. ``overrides`` (op name -> VJP rule, see
    :func:`~corefw.autograd.override_vjp`) and ``provenance`` (module provenance depth) are
    scoped to the thread that entered them, like grad mode."""

    enabled = True
    inference = False
    overrides: dict = {}  # never mutated: each change installs a new dict
    override_stack: tuple = ()
    provenance = 0
    modules: list | None = None  # the module stack while provenance is recorded


STATE = _State()


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
