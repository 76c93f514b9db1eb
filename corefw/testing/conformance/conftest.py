"""Stops a run of the kit's tests without the kit's plugin with a clear message."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("corefw.testing.plugin"):
        raise pytest.UsageError(
            "the corefw conformance kit's pytest plugin is not loaded: run\n"
            "  python -m pytest -p corefw.testing.plugin --pyargs corefw.testing.conformance "
            "--corefw-backend=NAME\n(or add pytest_plugins = [\"corefw.testing.plugin\"] to "
            "your suite's top-level conftest.py)")
