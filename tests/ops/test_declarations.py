"""One declaration per op: every op's shape/dtype rule agrees with the kernels (the meta device
runs the whole op table), saved values are only what the VJP reads, errors come from rules."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import corefw
from corefw import nn
from corefw._rules import Spec
from corefw.errors import DeviceError, DTypeError, ShapeError
from corefw.ops import OPS, PRIMITIVES
from corefw.testing import cases as C
from corefw.testing import runner

#: ops whose result shape depends on the values (meta tensors have none), as in PyTorch, and
#: functions that read values to validate or convert them (index range checks, tensor keys,
#: fill_ with a tensor value)
DATA_DEPENDENT = {"nonzero", "masked_select", "index", "embedding", "fill_tensor",
                  "getitem[numpy key]", "getitem[tensor key]", "setitem",
                  "matrix_exp"}  # its scaling reads the matrix's norm


def _outputs(out):
    return out if isinstance(out, (tuple, list)) else (out,)


def _run(ctx, case, sample, variant, dtype):
    inputs, _, _ = runner._tensors(sample, ctx, variant == "noncontig", ())
    with corefw.no_grad():
        return runner._call(case, inputs, sample, ctx, dtype)


def test_every_op_is_declared_with_a_rule_or_a_decomposition():
    missing = [n for n, op in OPS.items() if op.rule is None and op.decomposition is None]
    assert not missing, f"ops without a shape rule or a decomposition: {missing}"
    undeclared = [p for p in PRIMITIVES if p not in OPS or not OPS[p].primitive]
    assert not undeclared, f"primitives.py lists ops not declared primitive: {undeclared}"
    extra = [n for n, op in OPS.items() if op.primitive and n not in PRIMITIVES]
    assert not extra, f"declared primitive but not in primitives.py: {extra}"


def test_meta_runs_the_whole_op_table_with_the_kernels_shapes_and_dtypes():
    cpu, meta = runner.make_context("cpu"), runner.make_context("meta")
    C.cases_for("add")  # loads the table
    checked, data_dependent = 0, set()
    for op_name, cases in sorted(C.CASES.items()):
        for case in cases:
            for dtype in case.dtypes():
                for variant in case.variants:
                    rng = np.random.default_rng(runner._seed(op_name, variant, dtype))
                    try:
                        sample = case.make(rng, variant, dtype, cpu.env())
                    except C.NotApplicable:
                        continue
                    if op_name == "to_device":
                        continue
                    want = _run(cpu, case, sample, variant, dtype)
                    try:
                        got = _run(meta, case, sample, variant, dtype)
                    except (ShapeError, DeviceError) as exc:
                        # a shape that depends on values, or a function that reads them
                        assert "depend" in str(exc) or "no data" in str(exc), (
                            op_name, variant, dtype, exc)
                        data_dependent.add(case.name or op_name)
                        continue
                    for w, g in zip(_outputs(want), _outputs(got)):
                        if not isinstance(w, corefw.Tensor):
                            continue
                        assert isinstance(g._data, Spec), (op_name, variant)
                        assert (g.shape, g.dtype) == (w.shape, w.dtype), (
                            f"{op_name} [{variant}, {dtype}]: rule gives {g.shape} {g.dtype}, "
                            f"kernel {w.shape} {w.dtype}")
                    checked += 1
    assert checked > 1000
    assert data_dependent <= DATA_DEPENDENT, sorted(data_dependent - DATA_DEPENDENT)


def test_shape_errors_come_from_the_rules_before_any_kernel():
    a, b = corefw.ones(2, 3), corefw.ones(4, 3)
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4, 3\) cannot be broadcast"):
        a + b
    with pytest.raises(ShapeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and "):
        corefw.ones(2, 3) @ corefw.ones(2, 3)
    meta = corefw.ones(2, 3, device="meta")
    with pytest.raises(ShapeError, match="add: shapes"):
        meta + corefw.ones(4, 3, device="meta")
    with pytest.raises(DTypeError, match="bitwise_and"):
        corefw.ones(2, dtype=corefw.int32, device="meta") & corefw.ones(2, device="meta")


def test_a_model_runs_forward_and_backward_on_meta_then_materialises():
    corefw.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).to("meta")
    x = corefw.ones(32, 1, 8, 8, device="meta")
    out = model(x)
    assert out.shape == (32, 10) and out.device.type == "meta"
    loss = corefw.nn.functional.cross_entropy(out, corefw.zeros(32, dtype=corefw.int64,
                                                                 device="meta"))
    loss.backward()
    assert all(p.grad.shape == p.shape for p in model.parameters())
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 8 * 9 + 8 + 128 * 10 + 10
    with pytest.raises(corefw.errors.DeviceError, match="meta tensors have no data"):
        out.sum().item()
    model.to_empty(device="cpu")
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    real = model(corefw.ones(2, 1, 8, 8))
    assert real.shape == (2, 10) and np.isfinite(real.detach().numpy()).all()


def test_nodes_keep_only_what_the_vjp_reads():
    x = corefw.ones(1000, requires_grad=True)
    h = x * 2
    ref = weakref.ref(h)
    y = (h + 1).sum()       # add saves nothing: h's storage can go once we drop it
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    assert np.allclose(x.grad.numpy(), 2.0)
    h = x * 2
    ref = weakref.ref(h)
    z = (h.exp()).sum()     # exp saves its output, not its input
    del h
    gc.collect()
    assert ref() is None
    w = x * 3
    ref = weakref.ref(w)
    p = (w * w).sum()       # mul keeps both (each is the other's gradient factor)
    del w
    gc.collect()
    assert ref() is not None
    z.backward()
    p.backward()


def test_an_unsaved_operand_changed_in_place_is_fine_a_saved_one_is_not():
    a = corefw.ones(3, requires_grad=True)
    x = a * 1
    y = (x + 2).sum()        # add does not read x
    x.add_(10)
    y.backward()
    assert np.allclose(a.grad.numpy(), 1.0)
    b = corefw.ones(3, requires_grad=True)
    x = b * 1
    y = x.sin().sum()        # sin reads x
    x.add_(10)
    with pytest.raises(corefw.errors.AutogradError, match="modified by an in-place"):
        y.backward()


def test_norm_of_a_zero_vector_has_gradient_zero():
    for p in (2, 1, 3):
        x = corefw.zeros(4, requires_grad=True)
        corefw.norm(x, p).backward()
        assert np.array_equal(x.grad.numpy(), np.zeros(4)), p
    x = corefw.tensor([3.0, 4.0], requires_grad=True)
    corefw.norm(x).backward()
    assert np.allclose(x.grad.numpy(), [0.6, 0.8])


def test_fmod_follows_the_dividend_and_remainder_the_divisor():
    a = corefw.tensor([-7.0, 7.0, -7.5, 5.0])
    b = corefw.tensor([3.0, -3.0, 2.0, 5.0])
    assert np.allclose(corefw.fmod(a, b).numpy(), np.fmod(a.numpy(), b.numpy()))
    assert np.allclose(corefw.remainder(a, b).numpy(), np.remainder(a.numpy(), b.numpy()))
    ai = corefw.tensor([-7, 7, -8])
    assert corefw.fmod(ai, 3).tolist() == [-1, 1, -2]
    assert corefw.fmod(ai, 3).dtype == corefw.int64
    x = corefw.tensor([-7.0, 7.0], requires_grad=True)
    corefw.fmod(x, 3.0).sum().backward()
    assert np.allclose(x.grad.numpy(), 1.0)


def test_a_third_party_declaration_gets_meta_and_saves_for_free():
    op = corefw.ops.declare(
        "test_twice_plus", rule=lambda x, k: Spec(tuple(x.shape), x.dtype),
        vjp=lambda ctx, g: (g * 2,), saves=(), decomposition=lambda x, k: x * 2 + k,
        owner="tests")
    try:
        from corefw.plugins import call_op

        m = call_op("test_twice_plus", corefw.ones(2, 3, device="meta"), k=1.0)
        assert m.shape == (2, 3)
        x = corefw.ones(3, requires_grad=True)
        call_op("test_twice_plus", x, k=1.0).sum().backward()
        assert np.allclose(x.grad.numpy(), 2.0)
        assert op.saved((x,)) == (False,)
    finally:
        del OPS["test_twice_plus"]


def test_deterministic_mode_refuses_kernels_marked_nondeterministic():
    from corefw import dispatch
    from corefw.errors import KernelError

    dev = corefw.ones(1).device
    fn = dev.table["scatter_add"]
    backend_kernels = dispatch._EXTRA.setdefault("cpu", {})

    def atomic(*a, **k):
        return fn(*a, **k)

    atomic.nondeterministic = True
    backend_kernels["scatter_add"] = atomic
    try:
        dispatch._rebuild("cpu")
        x, idx = corefw.zeros(3), corefw.tensor([0, 0, 2])
        corefw.use_deterministic_algorithms(True)
        assert corefw.are_deterministic_algorithms_enabled()
        with pytest.raises(KernelError, match="scatter_add on cpu .* deterministic"):
            corefw.scatter_add(x, 0, idx, corefw.ones(3))
        corefw.use_deterministic_algorithms(True, warn_only=True)
        with pytest.warns(UserWarning, match="scatter_add"):
            out = corefw.scatter_add(x, 0, idx, corefw.ones(3))
        assert out.tolist() == [2.0, 0.0, 1.0]
        assert (x + 1).tolist() == [1.0, 1.0, 1.0]  # everything else runs as before
    finally:
        corefw.use_deterministic_algorithms(False)
        del backend_kernels["scatter_add"]
        dispatch._rebuild("cpu")
