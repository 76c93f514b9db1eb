"""The corefw plugin entry point of corefw-xai: registers every explainer by name.

Light to import: it imports only the hook marker; the explainer classes are imported when
corefw calls :func:`register_explainers` (the first time the registry is needed).
"""

from __future__ import annotations

from corefw.plugins import hookimpl

COREFW_PLUGIN_API = ">=1,<2"


@hookimpl
def register_explainers(register) -> None:
    """Register each explainer class of :mod:`corefw_xai` under its snake_case name."""
    from ._registry import explainer_classes

    for name, cls in explainer_classes().items():
        register(name, cls)
