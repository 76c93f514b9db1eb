"""corefw-jax's compiler through the core's compiler kit (``corefw.testing.check_compiler``):
every op-table case, first variant, float32, compiled with ``jax.jit`` on the ``jax`` device
and compared with eager, forward and backward. XLA fuses and reorders float arithmetic, so
the comparison allows float32 rounding. About a minute of CPU; ``COREFW_JAX_KIT=0`` skips it
with the kit."""

from __future__ import annotations

import os
from collections import Counter

import pytest

pytest.importorskip("jax", reason="jax is not installed (pip install 'corefw-jax[jax]')")
pytest.importorskip("corefw_jax", reason="corefw-jax is not installed")


@pytest.mark.skipif(os.environ.get("COREFW_JAX_KIT") == "0", reason=(
    "COREFW_JAX_KIT=0: the jax kits (about 4.5 min of CPU) were switched off"))
def test_jax_compiler_matches_eager_on_the_op_table():
    import corefw_jax.compiler as jc

    from corefw.testing import check_compiler

    made: list = []
    report = check_compiler(lambda g: made.append(jc.jax_jit(g)) or made[-1], device="jax",
                            dtypes=("float32",), first_variant_only=True, rtol=1e-5,
                            atol=1e-5)
    assert report.checked > 250 and report.backward > 200, report.summary()
    # the check must be of jax.jit, not of the replay it falls back to: count, and say why
    fallbacks = Counter((m.reason or "")[:80] for m in made if not m.jitted)
    assert sum(fallbacks.values()) <= 0.03 * len(made), (len(made), fallbacks)
