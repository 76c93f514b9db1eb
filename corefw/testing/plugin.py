"""The conformance kit as a pytest plugin (never auto-loaded; see :mod:`corefw.testing`).

Options (each also an ini setting without the dashes, e.g. ``corefw_backend = "mydev"``):

``--corefw-backend=NAME``   the device type to test (required)
``--corefw-report=PATH``    write the report as JSON there and as Markdown beside it
``--corefw-skips=FILE``     the backend's skips/xfails file (:mod:`corefw.testing.expectations`)
``--corefw-fallback=MODE``  fallback policy while testing: error (default), warn or cpu
``--corefw-ops=A,B``        only these ops (the matrix marks the rest "not run")

Loaded by ``-p corefw.testing.plugin``, by a backend suite's ``conftest.py`` line
``pytest_plugins = ["corefw.testing.plugin"]`` (the kit's tests then join that suite's), or by
:mod:`corefw.testing.bootstrap` when the command line names the kit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kit import Kit

_KIT = pytest.StashKey[Kit]()
_MODULE = Path(__file__).parent / "conformance" / "test_conformance.py"
_SETTINGS = {
    "backend": "the device type to test, e.g. cpu or mydev",
    "report": "write the conformance report as JSON to this path (and Markdown beside it)",
    "skips": "skips/xfails file: NAME DTYPE skip|xfail REASON per line",
    "fallback": "fallback policy while testing: error (default), warn or cpu",
    "ops": "comma-separated ops to test (default: all)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("corefw", "corefw conformance kit")
    for name, help_text in _SETTINGS.items():
        kwargs = {"choices": ("error", "warn", "cpu")} if name == "fallback" else {}
        group.addoption(f"--corefw-{name}", dest=f"corefw_{name}", default=None,
                        help=help_text, **kwargs)
        parser.addini(f"corefw_{name}", help_text, default=None)


def setting(config: pytest.Config, name: str) -> str | None:
    """A kit setting from the command line, else from the ini file (paths relative to it)."""
    value = config.getoption(f"corefw_{name}")
    if value:
        return value
    value = config.getini(f"corefw_{name}")
    if value and name in ("report", "skips") and config.inipath is not None:
        value = str(Path(config.inipath).parent / value)
    return value or None


def kit_for(config: pytest.Config) -> Kit:
    """The session's :class:`~corefw.testing.kit.Kit` (made on first use)."""
    kit = config.stash.get(_KIT, None)
    if kit is None:
        backend = setting(config, "backend")
        if not backend:
            raise pytest.UsageError(
                "corefw conformance kit: name the backend to test with --corefw-backend=NAME "
                "(or the ini option corefw_backend); `corefw plugins` lists the device types")
        ops = setting(config, "ops")
        kit = Kit(backend, skips=setting(config, "skips"),
                  fallback_policy=setting(config, "fallback"),
                  ops=[o.strip() for o in ops.split(",") if o.strip()] if ops else None)
        config.stash[_KIT] = kit
    return kit


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "corefw_cell" not in names and "corefw_check" not in names:
        return
    kit = kit_for(metafunc.config)
    from .checks import CHECKS
    from .expectations import lookup

    if "corefw_cell" in names:
        params = []
        for op, dtype in kit.cells():
            exp = lookup(kit.expectations, op, dtype) if dtype != "*" else None
            marks = [pytest.mark.xfail(reason=exp.reason, strict=False)] if (
                exp is not None and exp.action == "xfail") else []
            params.append(pytest.param((op, dtype), id=f"{op}-{dtype}", marks=marks))
        metafunc.parametrize("corefw_cell", params)
    if "corefw_check" in names:
        params = []
        for name in CHECKS:
            exp = lookup(kit.expectations, name)
            marks = [pytest.mark.xfail(reason=exp.reason, strict=False)] if (
                exp is not None and exp.action == "xfail") else []
            params.append(pytest.param(name, id=name, marks=marks))
        metafunc.parametrize("corefw_check", params)


@pytest.fixture
def corefw_kit(request: pytest.FixtureRequest) -> Kit:
    """The conformance kit bound to the backend under test."""
    return kit_for(request.config)


def _is_kit_item(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve() == _MODULE.resolve()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """In a backend's own suite, add the kit's tests when a backend is named."""
    if not setting(config, "backend") or any(_is_kit_item(i) for i in items):
        return
    module = pytest.Module.from_parent(session, path=_MODULE,
                                       nodeid="corefw.testing.conformance")
    items.extend(session.genitems(module))


def pytest_sessionfinish(session: pytest.Session) -> None:
    kit = session.config.stash.get(_KIT, None)
    path = setting(session.config, "report")
    if kit is not None and path:
        kit.report.write(path)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    kit = config.stash.get(_KIT, None)
    if kit is None or not kit.report.cells:
        return
    terminalreporter.section("corefw conformance")
    for line in kit.report.to_text().splitlines():
        terminalreporter.write_line(line)
    path = setting(config, "report")
    if path:
        terminalreporter.write_line(f"report: {path} (and {Path(path).with_suffix('.md')})")
