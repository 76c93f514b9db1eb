"""Tensor's methods are generated from the functions the ops layer publishes."""

from __future__ import annotations

import inspect

import corefw
from corefw import _gen_tensor_methods
from corefw._registry import FN, METHODS


def test_the_generated_methods_are_current():
    on_disk = _gen_tensor_methods.TARGET.read_text(encoding="utf-8")
    assert on_disk == _gen_tensor_methods.render(), (
        "corefw/_tensor_methods.py is out of date: run `python -m corefw._gen_tensor_methods`")


def test_every_method_is_defined_in_a_class_body_with_its_functions_signature():
    for name, fn_name in METHODS.items():
        attr = inspect.getattr_static(corefw.Tensor, name)
        assert attr is not None, name
        if isinstance(attr, property):
            continue
        fn = getattr(FN, fn_name)
        want = list(inspect.signature(fn).parameters)[1:]
        got = list(inspect.signature(attr).parameters)[1:]
        assert got == want or got == ["args", "kwargs"], (name, got, want)
    assert "sum" in vars(corefw._tensor_methods.TensorMethods)


def test_methods_give_the_functions_results():
    x = corefw.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.sum(1).tolist() == corefw.sum(x, 1).tolist() == [-1.0, 7.0]
    assert x.clip(0, 2).tolist() == [[1.0, 0.0], [2.0, 2.0]]
    assert x.T.tolist() == [[1.0, 3.0], [-2.0, 4.0]]
    assert x.negative().tolist() == (-x).tolist()
