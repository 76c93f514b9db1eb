"""Dispatch: (op, device type) -> kernel, resolved into one plain dict per device type.

Whenever a backend, a kernel or an op is registered, :func:`_rebuild` fills the device type's
table so that every op name maps to a callable over native arrays: the backend's kernel, else
a runner of the op's decomposition, else a runner of the fallback policy. The hot path is then a
single dict lookup; pluggy is never on it.

Fallback policy for an op with neither kernel nor decomposition: ``"error"`` (default) raises
:class:`~corefw.errors.KernelNotFoundError`; ``"warn"`` and ``"cpu"`` copy the operands to the
``cpu`` device, run its kernel and copy back (``"warn"`` also warns). Every fallback is counted
in a ledger: :func:`fallback_ledger` / :func:`print_fallback_ledger`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np

from ._device import device
from ._graph.grad_mode import no_grad
from ._meta import MetaBackend
from ._registry import OPS, OpDef, on_register
from ._tensor import Tensor, wrap
from .errors import (
    BackendUnavailableError,
    KernelError,
    KernelNotFoundError,
    NoBackendError,
    PluginError,
)

__all__ = [
    "backends", "fallback_ledger", "get_fallback_policy", "print_fallback_ledger",
    "register_backend", "register_kernels", "reset_fallback_ledger", "set_fallback_policy",
]

BACKENDS: dict[str, object] = {}
_OWNERS: dict[str, str] = {}
_EXTRA: dict[str, dict[str, Callable]] = {}  # device type -> kernels added by other plugins
_KERNEL_OWNERS: dict[tuple[str, str], str] = {}
_DEVICES: dict[str, list] = {}  # device type -> resolved devices (each has its own table)
_policy = ["error"]
_ledger: Counter = Counter()


def backends(*, include_abstract: bool = False) -> dict[str, object]:
    """Registered backends by device type (loads plugins on first use); the storage-free
    ``meta`` device (capability ``"abstract"``) only with ``include_abstract=True``."""
    _ensure_plugins()
    # only the core's own meta device is abstract; asking a plugin's backend for its
    # capabilities here could import its heavy library (lazy backends)
    return {t: b for t, b in BACKENDS.items()
            if include_abstract or not isinstance(b, MetaBackend)}


def register_backend(backend, owner: str = "?", override: bool = False) -> None:
    """Register a backend for ``backend.device_type`` (plugins do this through their hook)."""
    dev_type = backend.device_type
    if dev_type in BACKENDS and not override:
        raise PluginError(
            f"device type {dev_type!r} is already served by {_OWNERS[dev_type]!r}; "
            f"{owner!r} was refused (register with override=True to replace it)")
    BACKENDS[dev_type] = backend
    _OWNERS[dev_type] = owner
    for dev in _DEVICES.get(dev_type, ()):
        dev.backend = backend
        dev.ctx = backend.device_context(dev.index)
    _rebuild(dev_type)


def register_kernels(device_type: str, kernels: Mapping[str, Callable], owner: str = "?",
                     override: bool = False) -> None:
    """Add kernels for ops (new ops or faster composites) to an existing device type."""
    extra = _EXTRA.setdefault(device_type, {})
    for name, fn in kernels.items():
        prev = _KERNEL_OWNERS.get((device_type, name))
        if prev is not None and prev != owner and not override:
            raise PluginError(f"kernel {name!r} for device type {device_type!r} is already "
                              f"registered by {prev!r}; {owner!r} was refused (override=True "
                              f"replaces it)")
        extra[name] = fn
        _KERNEL_OWNERS[(device_type, name)] = owner
    if device_type in BACKENDS:
        _rebuild(device_type)


def _native(dev_type: str) -> dict[str, Callable]:
    native = dict(BACKENDS[dev_type].kernels)
    native.update(_EXTRA.get(dev_type, {}))
    return native


def _rebuild(dev_type: str) -> None:
    if not _DEVICES.get(dev_type):
        return  # nothing resolved yet: a lazy backend builds its kernels on first use
    native = _native(dev_type)
    for dev in _DEVICES.get(dev_type, ()):
        _fill(dev, native)


def _fill(dev: device, native: Mapping[str, Callable]) -> None:
    table = dev.table  # the same dict object: tensors' devices keep their reference
    table.clear()
    for name, op in OPS.items():
        table[name] = _resolve_kernel(op, dev, native)
    for name, fn in native.items():  # kernels for ops the registry does not know yet
        table.setdefault(name, _in_context(fn, dev))


def _in_context(fn: Callable, dev: device) -> Callable:
    """Run ``fn`` with ``dev`` current, for backends whose devices need switching."""
    ctx = dev.ctx
    if ctx is None:
        return fn

    def run(*operands, **attrs):
        with ctx:
            return fn(*operands, **attrs)

    run.__name__ = getattr(fn, "__name__", "kernel")
    return run


def _resolve_kernel(op: OpDef, dev: device, native: Mapping[str, Callable]) -> Callable:
    fn = native.get(op.name)
    if fn is not None:
        if _deterministic[0] and getattr(fn, "nondeterministic", False):
            return _nondeterministic_runner(op, dev, fn)
        return _in_context(fn, dev)
    if op.decomposition is not None:
        return _decomposition_runner(op, dev)
    return _fallback_runner(op, dev)


_deterministic = [False, False]  # required, warn_only


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Require deterministic kernels (PyTorch's API). Kernels a backend marks
    ``nondeterministic`` (e.g. atomic-add scatters on GPUs) then raise -- or warn, with
    ``warn_only=True`` -- naming the op and the backend; resolved into the kernel tables now,
    so the hot path pays nothing."""
    _deterministic[:] = [bool(mode), bool(warn_only)]
    for dev_type in list(_DEVICES):
        _rebuild(dev_type)


def are_deterministic_algorithms_enabled() -> bool:
    """Whether :func:`use_deterministic_algorithms` is on."""
    return _deterministic[0]


def _nondeterministic_runner(op: OpDef, dev: device, fn: Callable) -> Callable:
    backend = getattr(dev.backend, "name", dev.type)
    msg = (f"{op.name} on {dev} (backend {backend!r}) does not have a deterministic "
           f"implementation, but corefw.use_deterministic_algorithms(True) was set; turn it "
           f"off for this op or pass warn_only=True")
    inner = _in_context(fn, dev)

    def run(*operands, **attrs):
        if not _deterministic[1]:
            raise KernelError(msg)
        warnings.warn(msg, stacklevel=3)
        return inner(*operands, **attrs)

    return run


def _on_new_op(op: OpDef) -> None:
    for dev_type, devs in _DEVICES.items():
        if not devs:
            continue
        native = _native(dev_type)
        for dev in devs:
            dev.table[op.name] = _resolve_kernel(op, dev, native)


on_register(_on_new_op)


def _decomposition_runner(op: OpDef, dev: device) -> Callable:
    def run(*operands, **attrs):
        args = [wrap(a, dev) if not isinstance(a, (int, float, bool, type(None), tuple, list))
                else a for a in operands]
        with no_grad():
            out = op.decomposition(*args, **attrs)
        return out._data if isinstance(out, Tensor) else out

    run.__name__ = f"decomposed_{op.name}"
    run.decomposed = True
    return run


def _fallback_runner(op: OpDef, dev: device) -> Callable:
    dev_type = dev.type

    def run(*operands, **attrs):
        policy = _policy[0]
        if policy == "error" or dev_type == "cpu" or "cpu" not in BACKENDS:
            backend = BACKENDS.get(dev_type)
            raise KernelNotFoundError(
                f"backend {getattr(backend, 'name', dev_type)!r} (device type {dev_type!r}, "
                f"plugin {_OWNERS.get(dev_type)!r}) has no kernel for op {op.name!r} and the "
                f"op has no decomposition; register a kernel, or set "
                f"corefw.set_fallback_policy('cpu') to copy through the cpu device (recorded "
                f"in corefw.fallback_ledger())")
        if policy == "warn":
            warnings.warn(f"op {op.name!r} has no kernel on {dev_type!r}: running on cpu",
                          stacklevel=3)
        _ledger[(op.name, dev_type)] += 1
        here, host = BACKENDS[dev_type], BACKENDS["cpu"]
        args = [host.from_host(here.to_host(a), 0) if _is_array(a) else a for a in operands]
        out = resolve(device("cpu")).table[op.name](*args, **attrs)
        return here.from_host(np.asarray(host.to_host(out)), dev.index)

    run.__name__ = f"fallback_{op.name}"
    run.fallback = True
    return run


def _is_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


_pending_rng: dict[str, tuple] = {}  # device type -> ("seed", n) | ("state", array)
_global_seed: list = [None]


def active_backends() -> dict[str, object]:
    """Backends with at least one device in use."""
    return {t: BACKENDS[t] for t, devs in _DEVICES.items() if devs}


def seed_backends(seed: int) -> None:
    """Seed the backends in use now; the rest on their first use."""
    _global_seed[0] = seed
    _pending_rng.clear()
    _ensure_plugins()
    for dev_type, backend in BACKENDS.items():
        if _DEVICES.get(dev_type):
            backend.manual_seed(seed)
        else:
            _pending_rng[dev_type] = ("seed", seed)


def set_backend_rng_state(dev_type: str, state) -> None:
    if _DEVICES.get(dev_type):
        BACKENDS[dev_type].set_rng_state(state)
    else:
        _pending_rng[dev_type] = ("state", state)


def _apply_pending_rng(dev_type: str, backend) -> None:
    pending = _pending_rng.pop(dev_type, None)
    if pending is None:
        return
    kind, value = pending
    if kind == "seed":
        backend.manual_seed(value)
    else:
        backend.set_rng_state(value)


def set_fallback_policy(policy: str) -> None:
    """``"error"`` (default), ``"warn"`` or ``"cpu"``: what a missing kernel does."""
    if policy not in ("error", "warn", "cpu"):
        raise ValueError(f"fallback policy must be 'error', 'warn' or 'cpu', got {policy!r}")
    _policy[0] = policy


def get_fallback_policy() -> str:
    """The current fallback policy."""
    return _policy[0]


def fallback_ledger() -> dict[tuple[str, str], int]:
    """``{(op, device type): count}`` of every call that fell back to cpu."""
    return dict(_ledger)


def reset_fallback_ledger() -> None:
    """Forget recorded fallbacks."""
    _ledger.clear()


def print_fallback_ledger(file=None) -> None:
    """Print the fallback ledger as a table."""
    lines = [f"{'op':<24}{'device':<12}{'calls':>8}"]
    lines += [f"{op:<24}{dev:<12}{n:>8}" for (op, dev), n in sorted(_ledger.items())]
    if not _ledger:
        lines.append("(no fallbacks)")
    print("\n".join(lines), file=file)


def device_of(dev) -> device:
    """The resolved device for a name or device (backend and kernel table attached)."""
    return resolve(device(dev))


def resolve(dev: device) -> device:
    """Attach backend, kernel table and context to an interned device (first use only)."""
    if dev.table is not None:
        return dev
    _ensure_plugins()
    backend = BACKENDS.get(dev.type)
    if backend is None:
        have = ", ".join(sorted(BACKENDS)) or "none"
        raise NoBackendError(
            f"no backend is registered for device type {dev.type!r} (registered: {have}). "
            f"Install a plugin that provides it (docs/plugins.md); `corefw plugins` lists "
            f"what is installed, which device types each provides and why a plugin failed")
    if not backend.is_available():
        raise BackendUnavailableError(
            f"device {str(dev)!r} is unavailable: {backend.unavailable_reason()}")
    count = backend.device_count()
    if dev.index >= count:
        raise BackendUnavailableError(
            f"device {str(dev)!r} does not exist: {backend.name} has {count} "
            f"{dev.type} device(s), indices 0..{count - 1}")
    first_of_type = not _DEVICES.get(dev.type)
    dev.backend = backend
    dev.ctx = backend.device_context(dev.index)
    if first_of_type:
        _apply_pending_rng(dev.type, backend)
    dev.table = {}
    _fill(dev, _native(dev.type))
    _DEVICES.setdefault(dev.type, []).append(dev)
    return dev


_plugin_loader: list[Callable[[], None] | None] = [None]


def set_plugin_loader(load: Callable[[], None]) -> None:
    """Called by the plugin manager: how to load plugins on first need (dispatch itself
    never imports the plugin layer above it)."""
    _plugin_loader[0] = load


def _ensure_plugins() -> None:
    load = _plugin_loader[0]
    if load is not None:
        load()


# The core's own storage-free device: kernels are the ops' shape/dtype rules (corefw._meta).
BACKENDS["meta"] = MetaBackend()
_OWNERS["meta"] = "corefw"
