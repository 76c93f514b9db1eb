"""Per-dtype tolerances of the suites on every device, in one place.

A test states the tolerance it wants on cpu; :func:`tol` returns it unchanged there and on
another device raises float32's to at least :data:`DEVICE_FLOOR` (GPU libraries reduce and
multiply in other orders, and may contract to FMA). float16 and float64 are unchanged: float16
tests already allow for half precision, float64 results agree to rounding everywhere.

Import it as ``from _tolerance import tol`` (``tests/`` is on ``sys.path`` through
``tests/conftest.py``).
"""

from __future__ import annotations

import corefw

#: The loosest float32 tolerance a non-cpu device is allowed: rtol, atol.
DEVICE_FLOOR = {corefw.float32: (1e-5, 1e-6)}


def _device_type(device) -> str:
    if device is None:
        return "cpu"
    return device if isinstance(device, str) else corefw.device(device).type


def tol(dtype, device=None, *, rtol: float = 1e-7, atol: float = 0.0) -> dict[str, float]:
    """``dict(rtol=, atol=)`` for results of ``dtype`` computed on ``device`` (a name, a
    :class:`corefw.device`, or None for cpu), from the test's own cpu tolerance."""
    floor = DEVICE_FLOOR.get(dtype) if _device_type(device).partition(":")[0] != "cpu" \
        else None
    if floor is not None:
        rtol, atol = max(rtol, floor[0]), max(atol, floor[1])
    return dict(rtol=rtol, atol=atol)

