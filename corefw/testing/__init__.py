"""``corefw.testing``: the conformance kit for backends (install ``corefw[testing]``).

Run it on any installed backend by device type::

    python -m pytest --pyargs corefw.testing.conformance --corefw-backend=NAME \\
        [--corefw-report=PATH.json] [--corefw-skips=FILE] [--corefw-fallback=error|cpu]

or from a backend's own test suite with a one-line ``conftest.py``::

    pytest_plugins = ["corefw.testing.plugin"]

(the backend is named by ``--corefw-backend`` or the ini option ``corefw_backend``). The
plugin is never loaded into other pytest runs: it has no ``pytest11`` entry point.

Every primitive and composite op is run forward against an independent float64 NumPy reference
(:mod:`corefw.testing.reference`) and backward against float64 finite differences, in every
dtype the backend declares, over edge shapes (0-d, empty, broadcast, non-contiguous, large);
then transfers, seeded reproducibility and error behaviour. The result is an op x dtype matrix
(native / decomposed / fallback / missing / failing) and a verdict: see docs/conformance.md.
:func:`run_conformance` does the same in-process, without pytest.

:data:`CASES` is corefw's one op test table: corefw's own suite runs the same rows
(``tests/ops/test_op_table.py``), and :mod:`corefw.testing.table` hands them to any other
consumer as ``(case, variant, dtype, sample)``.

:func:`check_compiler` is the kit for compiler plugins: it compiles every case of the table
with a ``corefw.compile`` backend and compares with eager, forward and backward (docs/compile.md,
"Testing a compiler").

It also holds PyTorch's ``torch.testing.assert_close`` (:func:`assert_close`), with PyTorch's
tolerances per dtype.
"""

from __future__ import annotations

from ._comparison import assert_close
from .cases import CASES, NotApplicable, OpCase, Sample, register_case, values
from .compilers import CompilerFailure, CompilerReport, check_compiler
from .expectations import load_expectations, parse_expectations
from .kit import Kit, run_conformance
from .report import KIT_VERSION, Report
from .runner import DEFAULT_TOLERANCES, numeric_vjp

__all__ = ["CASES", "DEFAULT_TOLERANCES", "KIT_VERSION", "CompilerFailure", "CompilerReport",
           "Kit", "NotApplicable", "OpCase", "Report", "Sample", "assert_close",
           "check_compiler", "load_expectations", "numeric_vjp", "parse_expectations",
           "register_case", "run_conformance", "values"]
