"""Bounded differential fuzzing of ops against the kit's float64 references (issue 13): random
ops, shapes (0-d, empty, broadcast), dtypes, nan/inf/-0.0 and attributes (dims out of range,
stride 0, negative padding, indices out of range, integers that overflow). Every case must
match the reference or raise a typed corefw error (see differential.py)."""

from __future__ import annotations

import warnings

import numpy as np
from differential import BY_NAME, OPS, outcome, random_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corefw


@settings(max_examples=1500, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**63 - 1))
def test_ops_match_the_references_or_raise_typed_errors(seed):
    op, arrays, attrs = random_case(np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nan/inf inputs warn in numpy
        res = outcome(op, arrays, attrs)
    assert res in ("match", "typed"), (op.name, [(a.dtype, a.shape, a.tolist()) for a in arrays],
                                       attrs, res)


def test_every_op_is_drawn_and_the_harness_can_fail():
    rng = np.random.default_rng(0)
    seen = {random_case(rng)[0].name for _ in range(600)}
    assert seen == set(BY_NAME) and len(OPS) >= 30
    # controls: a wrong result and an untyped error are reported as failures
    wrong = type(OPS[0])("neg", 1, lambda x: x, lambda x: -np.asarray(x))
    assert outcome(wrong, [np.array([1.0, 2.0])], {}).startswith("mismatch")
    untyped = type(OPS[0])("boom", 1, lambda x: [][1], lambda x: x)
    assert outcome(untyped, [np.array([1.0])], {}).startswith("untyped: IndexError")
    silent = type(OPS[0])("quiet", 1, corefw.neg, lambda x: [][1])
    assert outcome(silent, [np.array([1.0])], {}).startswith("silent")
