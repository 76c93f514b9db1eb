"""Stands for a heavy array library (cupy, jax ...): corefw-lazy may import it only on first use
of its device, never while corefw imports or loads plugins."""

import numpy as xp  # noqa: F401
