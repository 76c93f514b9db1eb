"""corefw's plugin system: pluggy hooks found through the ``corefw.plugins`` entry points.

The hooks are in :mod:`corefw.plugins.hookspecs`; docs/plugins.md is the plugin author's guide,
docs/hooks.md the hook reference and docs/plugin-api-policy.md the compatibility promise.
``corefw plugins`` (or ``python -m corefw plugins --json``) lists every plugin and its status.
"""

from __future__ import annotations

from typing import Any

from .catalogue import PluginWarning
from .hookspecs import PLUGIN_API_VERSION, hookimpl, hookspec
from .manager import PluginRecord, load, plugin_records, register_plugin, version_matches

__all__ = ["PLUGIN_API_VERSION", "PluginRecord", "PluginWarning", "backends", "call_op",
           "devices", "hookimpl", "hookspec", "load", "plugin_records", "register_plugin",
           "version_matches"]


def backends() -> dict[str, Any]:
    """Registered backends by device type, available or not (loads plugins first).

    >>> import corefw.plugins
    >>> corefw.plugins.backends()["cpu"].device_type
    'cpu'
    """
    from .. import dispatch

    load()
    return dict(dispatch.BACKENDS)


def devices(*, available: bool = True) -> list:
    """Every device corefw can use now, as :class:`corefw.device` objects (``cpu:0``,
    ``cuda:0``, ``cuda:1`` ...), by device type then index; ``available=False`` also lists
    one ``type:0`` per backend that cannot run here.

    >>> import corefw.plugins
    >>> corefw.device("cpu", 0) in corefw.plugins.devices()
    True
    """
    from .._device import device

    out = []
    for dev_type, backend in sorted(backends().items()):
        try:
            usable = bool(backend.is_available())
            count = int(backend.device_count()) if usable else 0
        except Exception:  # noqa: BLE001 - a broken backend is reported by `corefw plugins`
            usable, count = False, 0
        if usable:
            out += [device(dev_type, i) for i in range(count)]
        elif not available:
            out.append(device(dev_type, 0))
    return out


def call_op(name: str, *operands: Any, **attrs: Any):
    """Run the registered op ``name`` on ``operands`` with keyword attributes ``attrs``.

    This is how a plugin's public function calls the op it registered through
    ``register_ops``: the kernel of the operands' device runs (or the op's decomposition on a
    backend without one), and autograd records the op's VJP. At least one operand must be a
    Tensor; all tensor operands must be on one device. Attributes must be hashable Python
    values (numbers, strings, tuples), not tensors.

    >>> import corefw
    >>> from corefw.plugins import call_op
    >>> call_op("mul", corefw.tensor([1.0, 2.0]), 3.0)
    tensor([3., 6.])
    """
    from .._call import apply
    from .._tensor import Tensor
    from ..ops.registry import OPS, get_op

    op = OPS.get(name)
    if op is None:  # a plugin's op exists once plugins are loaded
        load()
        op = get_op(name)
    if not any(isinstance(x, Tensor) for x in operands):
        from ..errors import DTypeError

        kinds = ", ".join(type(x).__name__ for x in operands) or "none"
        raise DTypeError(f"call_op({name!r}): needs at least one corefw.Tensor operand, got "
                         f"{kinds}; wrap data with corefw.tensor(...)")
    return apply(op, operands, attrs)
