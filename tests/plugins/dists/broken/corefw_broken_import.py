"""A plugin that raises while it is imported."""

raise RuntimeError("corefw_broken_import: simulated failure at import")
