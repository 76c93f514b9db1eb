"""PyTorch's ``out=`` on every public function whose torch counterpart has it (corefw/_out.py).

Each function runs once without ``out`` and then into ``out`` tensors: the result must be the
same values, ``out`` itself must come back, written in place (version bumped), resized when
its shape differs (warning only when it held elements), and the errors must be PyTorch's.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import corefw
from corefw import _out
from corefw._registry import FN
from corefw.errors import AutogradError, DeviceError, DTypeError

WRAPPED = sorted(_out.INSTALLED)


def _f(*shape, lo=0.1, hi=0.9):
    return corefw.tensor(np.random.default_rng(1).uniform(lo, hi, shape), dtype=corefw.float32)


def _i(*shape, lo=0, hi=5):
    return corefw.tensor(np.random.default_rng(2).integers(lo, hi, shape), dtype=corefw.int64)


def _b(*shape):
    return corefw.tensor(np.random.default_rng(3).random(shape) < 0.5)


# functions that the generic argument patterns below do not fit: name -> (args, kwargs)
EXPLICIT = {
    "addbmm": lambda: ((_f(3, 5), _f(2, 3, 4), _f(2, 4, 5)), {}),
    "addmm": lambda: ((_f(3, 5), _f(3, 4), _f(4, 5)), {}),
    "addmv": lambda: ((_f(3), _f(3, 4), _f(4)), {}),
    "addr": lambda: ((_f(3, 4), _f(3), _f(4)), {}),
    "baddbmm": lambda: ((_f(2, 3, 5), _f(2, 3, 4), _f(2, 4, 5)), {}),
    "bmm": lambda: ((_f(2, 3, 4), _f(2, 4, 5)), {}),
    "matmul": lambda: ((_f(3, 4), _f(4, 5)), {}),
    "mm": lambda: ((_f(3, 4), _f(4, 5)), {}),
    "mv": lambda: ((_f(3, 4), _f(4)), {}),
    "dot": lambda: ((_f(4), _f(4)), {}),
    "vdot": lambda: ((_f(4), _f(4)), {}),
    "outer": lambda: ((_f(3), _f(4)), {}),
    "ger": lambda: ((_f(3), _f(4)), {}),
    "cross": lambda: ((_f(4, 3), _f(4, 3)), {"dim": 1}),
    "cat": lambda: (([_f(2, 3), _f(4, 3)],), {}),
    "concat": lambda: (([_f(2, 3), _f(4, 3)],), {}),
    "concatenate": lambda: (([_f(2, 3), _f(4, 3)],), {}),
    "stack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "hstack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "vstack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "dstack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "column_stack": lambda: (([_f(3), _f(3)],), {}),
    "row_stack": lambda: (([_f(2, 3), _f(2, 3)],), {}),
    "sum": lambda: ((_f(3, 4), 1), {}),
    "mean": lambda: ((_f(3, 4), 1), {}),
    "max": lambda: ((_f(3, 4), 1), {}),
    "min": lambda: ((_f(3, 4), 1), {}),
    "sort": lambda: ((_f(3, 4),), {"dim": 1}),
    "topk": lambda: ((_f(3, 4), 2), {}),
    "kthvalue": lambda: ((_f(3, 4), 2), {}),
    "gather": lambda: ((_f(3, 4), 1, _i(3, 2, hi=4)), {}),
    "take_along_dim": lambda: ((_f(3, 4), _i(3, 2, hi=4)), {"dim": 1}),
    "index_select": lambda: ((_f(3, 4), 1, _i(2, hi=4)), {}),
    "masked_select": lambda: ((_f(3, 4), _b(3, 4)), {}),
    "take": lambda: ((_f(3, 4), _i(5, hi=12)), {}),
    "where": lambda: ((_b(3, 4), _f(3, 4), _f(3, 4, lo=2, hi=3)), {}),
    "lerp": lambda: ((_f(3, 4), _f(3, 4), 0.3), {}),
    "addcmul": lambda: ((_f(3, 4), _f(3, 4), _f(3, 4)), {}),
    "addcdiv": lambda: ((_f(3, 4), _f(3, 4), _f(3, 4)), {}),
    "clamp": lambda: ((_f(3, 4), 0.3, 0.6), {}),
    "clip": lambda: ((_f(3, 4), 0.3, 0.6), {}),
    "full": lambda: (((2, 3), 1.5), {}),
    "arange": lambda: ((0, 6), {}),
    "range": lambda: ((0, 5), {}),
    "linspace": lambda: ((0.0, 1.0, 5), {}),
    "logspace": lambda: ((0.0, 1.0, 5), {}),
    "eye": lambda: ((3,), {}),
    "randint": lambda: ((0, 10, (3, 4)), {}),
    "randperm": lambda: ((6,), {}),
    "multinomial": lambda: ((_f(5), 3), {}),
    "normal": lambda: ((_f(3, 4), _f(3, 4)), {}),
    "bernoulli": lambda: ((_f(3, 4),), {}),
    "searchsorted": lambda: ((corefw.tensor([0.1, 0.4, 0.7]), _f(3, 4)), {}),
    "bucketize": lambda: ((_f(3, 4), corefw.tensor([0.1, 0.4, 0.7])), {}),
    "histc": lambda: ((_f(20),), {"bins": 4, "min": 0, "max": 1}),
    "tensordot": lambda: ((_f(3, 4), _f(4, 5)), {"dims": 1}),
    "einsum": lambda: (("ij,jk->ik", _f(3, 4), _f(4, 5)), {}),
    "diag": lambda: ((_f(3, 3),), {}),
    "tril": lambda: ((_f(3, 3),), {}),
    "triu": lambda: ((_f(3, 3),), {}),
    "trace": lambda: ((_f(3, 3),), {}),
    "inverse": lambda: ((_f(3, 3) + 3 * corefw.eye(3),), {}),
    "det": lambda: ((_f(3, 3) + 3 * corefw.eye(3),), {}),
    "cholesky": lambda: ((_f(3, 3) @ _f(3, 3).T + 3 * corefw.eye(3),), {}),
    "slogdet": lambda: ((_f(3, 3) + 3 * corefw.eye(3),), {}),
    "triangular_solve": lambda: ((_f(3, 2), (_f(3, 3) + 3 * corefw.eye(3)).triu()), {}),
    "index_reduce": lambda: ((_f(3, 4), 1, _i(2, hi=4), _f(3, 2), "prod"), {}),
    "nonzero_static": lambda: ((_b(3, 4),), {"size": 8}),
    "pow": lambda: ((_f(3, 4), 2.0), {}),
    "float_power": lambda: ((_f(3, 4), 2.0), {}),
    "polygamma": lambda: ((1, _f(3, 4)), {}),
    "mvlgamma": lambda: ((_f(3, 4, lo=2, hi=3), 2), {}),
    "cumsum": lambda: ((_f(3, 4), 1), {}),
    "cumprod": lambda: ((_f(3, 4), 1), {}),
    "cummax": lambda: ((_f(3, 4), 1), {}),
    "cummin": lambda: ((_f(3, 4), 1), {}),
    "logcumsumexp": lambda: ((_f(3, 4), 1), {}),
    "narrow_copy": lambda: ((_f(3, 4), 1, 1, 2), {}),
    "gcd": lambda: ((_i(3, 4, lo=1), _i(3, 4, lo=1)), {}),
    "lcm": lambda: ((_i(3, 4, lo=1), _i(3, 4, lo=1)), {}),
    "bitwise_and": lambda: ((_i(3, 4), _i(3, 4)), {}),
    "bitwise_or": lambda: ((_i(3, 4), _i(3, 4)), {}),
    "bitwise_xor": lambda: ((_i(3, 4), _i(3, 4)), {}),
    "bitwise_not": lambda: ((_i(3, 4),), {}),
    "bitwise_left_shift": lambda: ((_i(3, 4), _i(3, 4, hi=3)), {}),
    "bitwise_right_shift": lambda: ((_i(3, 4), _i(3, 4, hi=3)), {}),
    "logical_not": lambda: ((_b(3, 4),), {}),
    "bincount": lambda: ((_i(6),), {}),
    "acosh": lambda: ((_f(3, 4, lo=1.1, hi=1.9),), {}),
    "arccosh": lambda: ((_f(3, 4, lo=1.1, hi=1.9),), {}),
    "index_add": lambda: ((_f(3, 4), 0, _i(2, hi=3), _f(2, 4)), {}),
    "index_copy": lambda: ((_f(3, 4), 0, corefw.tensor([2, 0]), _f(2, 4)), {}),
    "scatter": lambda: ((_f(3, 4), 1, _i(3, 2, hi=4), _f(3, 2)), {}),
    "scatter_add": lambda: ((_f(3, 4), 1, _i(3, 2, hi=4), _f(3, 2)), {}),
    "scatter_reduce": lambda: ((_f(3, 4), 1, _i(3, 2, hi=4), _f(3, 2), "sum"), {}),
    "renorm": lambda: ((_f(3, 4), 2, 0, 0.5), {}),
    "matrix_power": lambda: ((_f(3, 3), 3), {}),
    "median": lambda: ((_f(3, 4), 1), {}),
    "kron": lambda: ((_f(2, 3), _f(2, 2)), {}),
    "cdist": lambda: ((_f(3, 4), _f(5, 4)), {}),
    "diff": lambda: ((_f(3, 4),), {}),
    "nonzero": lambda: ((_b(3, 4),), {}),
    "argwhere": lambda: ((_b(3, 4),), {}),
    "unique_consecutive": lambda: ((_i(6),), {}),
    "quantile": lambda: ((_f(3, 4), 0.3), {}),
    "nanquantile": lambda: ((_f(3, 4), 0.3), {}),
    "var_mean": lambda: ((_f(3, 4), 1), {}),
    "std_mean": lambda: ((_f(3, 4), 1), {}),
    "aminmax": lambda: ((_f(3, 4),), {"dim": 1}),
    "frexp": lambda: ((_f(3, 4),), {}),
    "ldexp": lambda: ((_f(3, 4), _i(3, 4)), {}),
    "heaviside": lambda: ((_f(3, 4, lo=-1, hi=1), _f(3, 4)), {}),
    "nan_to_num": lambda: ((_f(3, 4),), {}),
    "slice_inverse": lambda: ((_f(3, 4), _f(6, 4)), {}),
}
# the generic patterns, tried in order until one runs: name -> (args, kwargs)
PATTERNS = (
    lambda: ((_f(3, 4),), {}),
    lambda: ((_f(3, 4), _f(3, 4, lo=1.1, hi=1.9)), {}),
    lambda: ((_f(3, 4), 1), {}),
    lambda: ((3, 4), {}),
    lambda: ((_i(3, 4), _i(3, 4, lo=1)), {}),
    lambda: ((_f(3, 4), _f(3, 4), _f(3, 4)), {}),
)
RANDOM = {"bernoulli", "multinomial", "normal", "rand", "randint", "randn", "randperm",
          "poisson"}


def _call(name, args, kwargs, **extra):
    if name in RANDOM:
        corefw.manual_seed(7)
    return getattr(corefw, name)(*args, **kwargs, **extra)


def _inputs(name):
    if name in EXPLICIT:
        args, kwargs = EXPLICIT[name]()
        return args, kwargs, _call(name, args, kwargs)
    errors = []
    for make in PATTERNS:
        args, kwargs = make()
        try:
            return args, kwargs, _call(name, args, kwargs)
        except Exception as exc:  # noqa: BLE001 - the next pattern may fit
            errors.append(f"{type(exc).__name__}: {exc}")
    raise AssertionError(f"no argument pattern fits corefw.{name} (add it to EXPLICIT): "
                         f"{errors}")


def _results(r):
    return (r,) if isinstance(r, corefw.Tensor) else tuple(r)


def _same(got, want, name):
    assert got.dtype == want.dtype and got.shape == want.shape, (name, got, want)
    if name == "empty":  # uninitialised values
        return
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy(), err_msg=name)


def _outs(results, make):
    outs = tuple(make(r) for r in results)
    return outs[0] if len(outs) == 1 else outs


def test_the_list_is_torchs_and_covers_the_everyday_functions():
    for name in ("add", "matmul", "cat", "sum", "mean", "max", "sort", "topk", "exp"):
        assert name in _out.TORCH_OUT_FUNCTIONS and name in WRAPPED, name
    assert len(WRAPPED) >= 100


@pytest.mark.parametrize("name", WRAPPED)
def test_out_writes_in_place_and_returns_out(name):
    args, kwargs, want = _inputs(name)
    wants = _results(want)
    outs = _outs(wants, lambda r: corefw.full(r.shape, 7, dtype=r.dtype))
    before = [o._version for o in _results(outs)]
    got = _call(name, args, kwargs, out=outs)
    if isinstance(outs, tuple):
        assert tuple(got) == outs and all(g is o for g, o in zip(got, outs))
        assert type(got) is type(want)  # the op's named tuple (values, indices)
    else:
        assert got is outs
    for o, w, v in zip(_results(outs), wants, before):
        _same(o, w, name)
        assert o._version > v, f"{name}: out= did not bump the version counter"


@pytest.mark.parametrize("name", WRAPPED)
def test_out_of_another_shape_is_resized(name):
    args, kwargs, want = _inputs(name)
    wants = _results(want)
    empty = _outs(wants, lambda r: corefw.empty(0, dtype=r.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero elements: resized without a warning
        _call(name, args, kwargs, out=empty)
    for o, w in zip(_results(empty), wants):
        _same(o, w, name)
    wrong = _outs(wants, lambda r: corefw.zeros(r.numel() + 2, dtype=r.dtype))
    with pytest.warns(UserWarning, match="resized"):
        _call(name, args, kwargs, out=wrong)
    for o, w in zip(_results(wrong), wants):
        _same(o, w, name)


@pytest.mark.parametrize("name", WRAPPED)
def test_out_errors_as_torch(name):
    args, kwargs, want = _inputs(name)
    wants = _results(want)
    params = inspect.signature(getattr(corefw, name)).parameters
    factory = "dtype" in params and "device" in params  # makes its result in out's dtype
    if not factory and any(r.dtype.is_floating_point for r in wants):  # float into int out
        ints = _outs(wants, lambda r: corefw.zeros(r.shape, dtype=corefw.int64))
        with pytest.raises(DTypeError, match="can't be cast to the desired output type"):
            _call(name, args, kwargs, out=ints)
    if not factory and wants[0].dtype is not corefw.bool_:  # non-bool into a bool out
        bools = _outs(wants, lambda r: corefw.zeros(r.shape, dtype=corefw.bool_))
        with pytest.raises(DTypeError, match="can't be cast"):
            _call(name, args, kwargs, out=bools)
    if all(r.dtype.is_floating_point for r in wants):
        req = _outs(wants, lambda r: corefw.zeros(r.shape, dtype=r.dtype, requires_grad=True))
        with pytest.raises(AutogradError, match="don't support automatic differentiation"):
            _call(name, args, kwargs, out=req)
        with corefw.no_grad():  # allowed without grad mode, as in PyTorch
            _call(name, args, kwargs, out=req)
        for o, w in zip(_results(req), wants):
            _same(o, w, name)
    with pytest.raises(TypeError, match="out"):
        _call(name, args, kwargs, out=3)


def test_inputs_that_require_grad_refuse_out_under_grad_mode():
    x = corefw.ones(3, requires_grad=True)
    o = corefw.empty(3)
    with pytest.raises(AutogradError, match=r"add\(\): functions with out="):
        corefw.add(x, 1, out=o)
    with corefw.no_grad():
        assert corefw.add(x, 1, out=o) is o
    np.testing.assert_array_equal(o.numpy(), [2, 2, 2])


def test_casting_follows_torch():
    ints = corefw.tensor([1, 2, 3])
    o = corefw.zeros(3, dtype=corefw.float64)  # int result into a float out: cast
    assert corefw.add(ints, ints, out=o) is o and o.dtype is corefw.float64
    np.testing.assert_array_equal(o.numpy(), [2.0, 4.0, 6.0])
    o16 = corefw.zeros(3, dtype=corefw.float16)  # float32 into float16: allowed, rounded
    corefw.mul(corefw.tensor([1.0, 2.0, 3.0]), 1 / 3, out=o16)
    assert o16.dtype is corefw.float16
    with pytest.raises(DTypeError, match="result type float32 can't be cast to the desired "
                                         "output type int64"):
        corefw.add(corefw.ones(3), 1, out=corefw.zeros(3, dtype=corefw.int64))
    assert _out.can_cast(corefw.bool_, corefw.int8) and not _out.can_cast(corefw.int8,
                                                                          corefw.bool_)


def test_out_may_be_an_input_and_views_are_written_through():
    a = corefw.tensor([1.0, 2.0, 3.0])
    assert corefw.add(a, a, out=a) is a
    np.testing.assert_array_equal(a.numpy(), [2.0, 4.0, 6.0])
    base = corefw.zeros(2, 3)
    corefw.exp(corefw.zeros(3), out=base[1])
    np.testing.assert_array_equal(base.numpy(), [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(corefw.errors.ShapeError, match="view"):
        corefw.exp(corefw.zeros(4), out=base[0])


def test_out_on_another_device_is_refused():
    meta = corefw.empty(3, device="meta")
    with pytest.raises(DeviceError, match="expected out tensor to have device cpu"):
        corefw.add(corefw.ones(3), 1, out=meta)


def test_factories_make_their_result_in_outs_dtype():
    o = corefw.empty(2, 3, dtype=corefw.int64)
    assert corefw.zeros(2, 3, out=o) is o and o.dtype is corefw.int64
    o = corefw.empty(0, dtype=corefw.float64)
    corefw.arange(4, out=o)
    np.testing.assert_array_equal(o.numpy(), [0.0, 1.0, 2.0, 3.0])


def test_methods_and_operators_do_not_pass_through_the_wrapper():
    assert corefw.add.__wrapped__ is FN.add and FN.add is not corefw.add
    assert "out" in inspect.signature(corefw.add).parameters
    with pytest.raises(TypeError):
        corefw.ones(2).add(1, out=corefw.empty(2))  # methods keep torch's no-out signature
    assert corefw.abs is corefw.absolute  # aliases stay one function
