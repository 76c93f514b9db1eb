"""Entry point ``lazy``: device type ``lazydev``, whose array library (``corefw_lazy_heavy``)
is imported on the first use of the device, not when the plugin is imported or registered."""

from __future__ import annotations

import importlib.util

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


class LazyBackend:
    """A thin backend: availability is cheap; everything else is built on first use."""

    device_type = "lazydev"
    name = "lazy"

    def __init__(self) -> None:
        self._impl = None

    def is_available(self) -> bool:
        return importlib.util.find_spec("corefw_lazy_heavy") is not None

    def unavailable_reason(self):
        return None if self.is_available() else "corefw_lazy_heavy is not installed"

    def __getattr__(self, attr):  # kernels, from_host, to_host, dtypes ...: first use
        if attr.startswith("__") or attr == "_impl":
            raise AttributeError(attr)
        if self._impl is None:
            import corefw_lazy_heavy

            from corefw.backend import ArrayModuleBackend

            self._impl = ArrayModuleBackend(corefw_lazy_heavy.xp, device_type="lazydev",
                                            name="lazy")
        return getattr(self._impl, attr)


@hookimpl
def register_backends(register):
    register(LazyBackend())
