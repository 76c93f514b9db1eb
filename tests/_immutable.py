"""The example immutable backend (examples/plugins/corefw-immutable) registered for a test
module without installing it: every kernel returns a new array, so in-place ops and views are
functionalized by the core. Also a bare variant ("immutbare") with no in-place kernel at all."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import corefw
from corefw._device import _interned

IMMUT = Path(__file__).resolve().parents[1] / "examples" / "plugins" / "corefw-immutable"


@contextmanager
def immutable_backend() -> Iterator[str]:
    """Register "immut" (and "immutbare") for the block; restore the registries after."""
    sys.path.insert(0, str(IMMUT))
    try:
        from corefw_immutable.backend import ImmutableBackend
    finally:
        sys.path.remove(str(IMMUT))
    d = corefw.dispatch
    d.backends()  # plugins loaded first, so the snapshot below is the session's real state
    saved = [(reg, dict(reg)) for reg in (d.BACKENDS, d._OWNERS, d._DEVICES, d._pending_rng)]
    if "immut" not in d.BACKENDS:
        d.register_backend(ImmutableBackend(), owner="tests")
    bare = ImmutableBackend()  # a functional backend that writes no in-place kernel at all
    bare.device_type = "immutbare"
    del bare.kernels["copy_"], bare.kernels["index_put_"]
    d.register_backend(bare, owner="tests")
    try:
        yield "immut"
    finally:
        for reg, before in saved:  # leave no trace for later tests (listings, seeding)
            reg.clear()
            reg.update(before)
        for dev in set(_interned.values()):  # devices are interned: unresolve ours, so a
            if dev.type in ("immut", "immutbare"):  # later registration resolves afresh
                dev.backend = dev.table = dev.ctx = None
