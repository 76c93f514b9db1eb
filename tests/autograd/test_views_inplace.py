"""Views and in-place changes under autograd, and functionalization on a backend that can
neither write nor alias arrays (the ``immut`` example backend, registered here in-process).

Forward values are checked against float64 NumPy, gradients against central differences of
the NumPy reference (the values PyTorch gives for the same programs).
"""

from __future__ import annotations

import numpy as np
import pytest
from _immutable import immutable_backend

import corefw
import corefw.dispatch
import corefw.nn.functional as F
from corefw.errors import AutogradError, ShapeError
from corefw.ops import OPS
from corefw.testing import NotApplicable
from corefw.testing.cases import Env, cases_for
from corefw.testing.runner import all_ops

F64 = corefw.float64


@pytest.fixture(scope="module")
def immut():
    """The example immutable backend, registered for this module's tests."""
    with immutable_backend() as name:
        yield name


@pytest.fixture(params=["cpu", "immut"])
def dev(request):
    return request.getfixturevalue("immut") if request.param == "immut" else "cpu"


# -- 1. only declared view ops share memory -----------------------------------------------------
def _host_tensors(sample, noncontig):
    out = []
    for a in sample.arrays:
        if not isinstance(a, np.ndarray):
            out.append(a)
            continue
        dt = corefw.bool_ if a.dtype == np.bool_ else getattr(corefw, a.dtype.name)
        if noncontig and a.ndim >= 2:
            out.append(corefw.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)),
                                     dtype=dt).transpose(-1, -2))
        else:
            out.append(corefw.tensor(a, dtype=dt))
    return out


def test_only_declared_views_share_memory_with_an_input():
    """Every case of the conformance table on cpu: a result shares memory with an input only
    if its op is declared a view (primitives.VIEW_OPS)."""
    cpu = corefw.dispatch.backends()["cpu"]
    env = Env(corefw.device("cpu"), frozenset(cpu.dtypes), frozenset(cpu.capabilities))
    checked, offenders = 0, []
    for name in all_ops():  # every registered op; cases_for loads the kit's table
        for case in cases_for(name):
            dtypes = [d for d in case.dtypes() if d in cpu.dtypes]
            if not dtypes or "random" in case.needs:
                continue
            dtype = "float32" if "float32" in dtypes else dtypes[0]
            for variant in case.variants:
                try:
                    sample = case.make(np.random.default_rng(0), variant, dtype, env)
                except NotApplicable:
                    continue
                inputs = _host_tensors(sample, variant == "noncontig")
                attrs = dict(sample.attrs)
                if case.creation:
                    attrs.update(device="cpu", dtype=corefw.bool_ if dtype == "bool"
                                 else getattr(corefw, dtype))
                with corefw.no_grad():
                    out = case.fn(*inputs, **attrs)
                outs = out if isinstance(out, (tuple, list)) else (out,)
                view = OPS[name].view if name in OPS else False
                for o in outs:
                    for x in inputs:
                        if isinstance(x, corefw.Tensor) and isinstance(o, corefw.Tensor) \
                                and np.shares_memory(o.numpy(), x.numpy()) and not view:
                            offenders.append(f"{name}[{variant}]")
                checked += 1
    assert checked > 500, checked  # every case variant of the table ran
    assert not offenders, offenders


def test_declared_views_do_share_memory_on_cpu():
    x = corefw.arange(12.0).reshape(3, 4)
    for v in (x.reshape(4, 3), x.t(), x[1:], x.expand(2, 3, 4), x.detach()):
        assert np.shares_memory(v.numpy(), x.numpy())
        assert v._version == x._version


def test_flip_is_a_copy_so_an_inplace_change_of_it_leaves_the_graph_alone():
    a = corefw.tensor([1.0, 2.0, 3.0], dtype=F64, requires_grad=True)
    x = a * 1
    z = (x * x).sum()
    x.flip(0).add_(10)
    z.backward()
    assert a.grad.tolist() == [2.0, 4.0, 6.0]  # PyTorch's: flip copies
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_contiguous_copies_only_non_contiguous_tensors():
    x = corefw.arange(12.0).reshape(3, 4)
    assert x.is_contiguous() and x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and not np.shares_memory(c.numpy(), x.numpy())
    np.testing.assert_array_equal(c.numpy(), np.arange(12.0).reshape(3, 4).T)
    e = corefw.ones(1, 3).expand(4, 3)
    assert not e.is_contiguous()
    ec = e.contiguous()
    ec.add_(1)  # writable
    assert ec.tolist() == [[2.0] * 3] * 4
    p = F.pad(x, (0, 0))
    assert not np.shares_memory(p.numpy(), x.numpy()) and p.tolist() == x.tolist()
    assert not np.shares_memory(F.pad(x, (-1, 0)).numpy(), x.numpy())
    for mode in ("reflect", "replicate", "circular"):
        assert not np.shares_memory(F.pad(x, (0, 0), mode=mode).numpy(), x.numpy())


def test_contiguous_is_differentiable():
    a = corefw.tensor(np.arange(6.0).reshape(2, 3), dtype=F64, requires_grad=True)
    (a.t().contiguous() * corefw.tensor(np.arange(6.0).reshape(3, 2), dtype=F64)).sum() \
        .backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(6.0).reshape(3, 2).T)


def test_contiguity_from_the_view_chain_without_views(immut):
    x = corefw.arange(12.0, device=immut).reshape(3, 4)
    assert x.is_contiguous() and x.reshape(12).is_contiguous()
    assert not x.t().is_contiguous()
    c = x.t().contiguous()
    c.add_(1)  # a copy: x is unchanged, as on cpu
    assert x.sum().item() == 66.0


# -- 2. in-place changes through views while recording ------------------------------------------
def _fd(f, arrays, i, eps=1e-6):
    """Central differences of the scalar f(*arrays) with respect to arrays[i]."""
    x = arrays[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi = [a.copy() for a in arrays]
        lo = [a.copy() for a in arrays]
        hi[i][idx] += eps
        lo[i][idx] -= eps
        g[idx] = (f(*hi) - f(*lo)) / (2 * eps)
    return g


def _s_mul_row(a, w, t):
    b = a * 1
    b[0].mul_(2)
    return (b * b * w).sum()


def _r_mul_row(a, w):
    b = a.copy()
    b[0] *= 2
    return (b * b * w).sum()


def _s_t_add(a, w, t):
    b = a.clone()
    b.t().add_(w.t())  # w (2, 3) added through the transposed view
    return (b * b).sum()


def _r_t_add(a, w):
    return ((a + w) ** 2).sum()


def _s_exp_tail(a, w, t):
    b = a * 1
    b[1:].exp_()
    return (b * w).sum()


def _r_exp_tail(a, w):
    b = a.copy()
    b[1:] = np.exp(b[1:])
    return (b * w).sum()


def _s_nested(a, w, t):
    b = a * 1
    v = b.t().reshape(6)[1:4]  # permute, reshape (a copy on cpu: not a view), slice
    v.mul_(v)
    c = b.reshape(6)[2:5]  # reshape, slice: views
    c.mul_(w.reshape(6)[:3])
    return (b * w).sum() + (v * v).sum()


def _r_nested(a, w):
    b = a.copy()
    v = b.T.reshape(6)[1:4].copy()
    v = v * v
    flat = b.reshape(6)
    flat[2:5] *= w.reshape(6)[:3]
    b = flat.reshape(2, 3)
    return (b * w).sum() + (v * v).sum()


def _s_setitem(a, w, t):
    b = a * 1
    b[1][0:2] = w[0, :2] * 3
    return (b * b).sum()


def _r_setitem(a, w):
    b = a.copy()
    b[1, 0:2] = w[0, :2] * 3
    return (b * b).sum()


def _s_root_then_views(a, w, t):
    b = a * 1
    row, col = b[0], b[:, 2]
    b.mul_(3)  # row and col are regenerated from the new b, as in PyTorch
    b[1].add_(w[1])  # col changes again through a sibling view
    return (row * w[0]).sum() + (col * col).sum() + (b * b).sum()


def _r_root_then_views(a, w):
    b = a * 3
    b[1] += w[1]
    return (b[0] * w[0]).sum() + (b[:, 2] ** 2).sum() + (b * b).sum()


SCENARIOS = {"mul-row": (_s_mul_row, _r_mul_row), "t-add": (_s_t_add, _r_t_add),
             "exp-tail": (_s_exp_tail, _r_exp_tail), "nested": (_s_nested, _r_nested),
             "setitem": (_s_setitem, _r_setitem),
             "root-then-views": (_s_root_then_views, _r_root_then_views)}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_inplace_through_views_gives_pytorchs_gradients(name, dev):
    fn, ref = SCENARIOS[name]
    rng = np.random.default_rng(1)
    a0, w0 = rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(0.5, 1.5, (2, 3))
    a = corefw.tensor(a0, dtype=F64, device=dev, requires_grad=True)
    w = corefw.tensor(w0, dtype=F64, device=dev, requires_grad=True)
    loss = fn(a, w, None)
    np.testing.assert_allclose(loss.item(), ref(a0, w0), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), _fd(ref, [a0, w0], 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(w.grad.numpy(), _fd(ref, [a0, w0], 1), rtol=1e-6, atol=1e-8)


def test_hand_derived_gradient_of_the_issue_example(dev):
    a = corefw.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64, device=dev, requires_grad=True)
    b = a * 1
    v = b[0]
    v.mul_(2)
    assert b.tolist() == [[2.0, 4.0], [3.0, 4.0]] and v.tolist() == [2.0, 4.0]
    assert v.grad_fn.name() == "MulBackward"  # the view takes the new value's node
    (b * b).sum().backward()
    assert a.grad.tolist() == [[8.0, 16.0], [6.0, 8.0]]  # d(2a)^2 = 8a on row 0, 2a elsewhere


def test_changing_a_saved_tensor_through_a_view_is_still_an_error(dev):
    a = corefw.tensor([1.0, 2.0, 3.0], dtype=F64, device=dev, requires_grad=True)
    b = a * 1
    z = b.sin()  # saves b
    b[1:].add_(1)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        z.sum().backward()


def test_a_view_of_a_leaf_that_requires_grad_cannot_change_while_recording(dev):
    a = corefw.tensor([1.0, 2.0], dtype=F64, device=dev, requires_grad=True)
    with pytest.raises(AutogradError, match="view of a leaf"):
        a[0:1].mul_(2)
    assert a.tolist() == [1.0, 2.0]
    with corefw.no_grad():
        a[0:1].mul_(2)
    assert a.tolist() == [2.0, 2.0] and a.is_leaf


def test_writing_into_an_expanded_view_is_refused_before_anything_changes(dev):
    x = corefw.zeros(1, 3, device=dev)
    e = x.expand(2, 3)
    with pytest.raises(ShapeError, match="expanded"):
        e.add_(1)
    with pytest.raises(ShapeError, match="expanded"):
        e[0] = 1.0
    assert x.tolist() == [[0.0, 0.0, 0.0]] and x._version == 0


def test_detach_is_not_a_differentiable_view(dev):
    a = corefw.tensor([1.0, 2.0], dtype=F64, device=dev, requires_grad=True)
    b = a * 1
    d = b.detach()
    w = corefw.tensor([3.0, 4.0], dtype=F64, device=dev, requires_grad=True)
    d.mul_(w)  # d records the change; b's graph stays: only its values follow
    assert b.tolist() == [3.0, 8.0] and b.grad_fn.name() == "MulBackward"
    d.sum().backward()
    assert w.grad.tolist() == [1.0, 2.0] and a.grad is None


# -- 3. functionalization ----------------------------------------------------------------------
def test_inplace_ops_rebind_on_a_backend_that_cannot_write(immut):
    y = corefw.zeros(3, device=immut)
    assert y.add_(1) is y
    y.mul_(corefw.tensor([1.0, 2.0, 3.0], device=immut))
    y[0] = 7.0  # the index_put_ kernel returns a new array
    y[corefw.tensor([2], device=immut)] = 8.0
    assert y.tolist() == [7.0, 2.0, 8.0] and y._version == 4
    z = corefw.ones(2, 2, device=immut)
    z.copy_(corefw.tensor([5.0, 6.0]))  # from cpu, broadcast
    assert z.tolist() == [[5.0, 6.0], [5.0, 6.0]]
    z.data.add_(1)  # .data shares storage
    assert z.tolist() == [[6.0, 7.0], [6.0, 7.0]]


def test_a_functional_backend_needs_no_inplace_kernels(immut):
    x = corefw.zeros(2, 3, device="immutbare")
    row = x[1]
    row.add_(1)
    x[0, 2] = 5.0
    x.copy_(x * 2)
    assert x.tolist() == [[0.0, 0.0, 10.0], [2.0, 2.0, 2.0]] and row.tolist() == [2.0] * 3
    p = corefw.nn.Parameter(corefw.ones(3, device="immutbare"))
    opt = corefw.optim.SGD([p], lr=0.5, momentum=0.9)
    (p * p).sum().backward()
    opt.step()
    assert p.tolist() == [0.0, 0.0, 0.0]


def test_views_stay_consistent_with_their_base_without_aliasing(immut):
    base = corefw.zeros(3, 4, device=immut)
    col, flat, tr, row = base[:, 1], base.reshape(12), base.t(), base[2]
    inner = tr[1:3][:, 0]  # a view of a view
    row.add_(1)
    tr[0].fill_(5)
    flat[-1] = 9.0
    want = np.zeros((3, 4))
    want[2] += 1
    want[:, 0] = 5
    want.reshape(12)[-1] = 9
    np.testing.assert_array_equal(base.numpy(), want)
    for view, expect in ((col, want[:, 1]), (flat, want.reshape(12)), (tr, want.T),
                         (row, want[2]), (inner, want.T[1:3][:, 0])):
        np.testing.assert_array_equal(view.numpy(), expect)
    inner.sub_(2)
    want.T[1:3, 0] -= 2
    np.testing.assert_array_equal(base.numpy(), want)
    base.zero_()
    assert col.tolist() == [0.0] * 3 and flat.sum().item() == 0.0


OPTIMIZERS = {
    "sgd": lambda ps: corefw.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd-nesterov": lambda ps: corefw.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: corefw.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: corefw.optim.AdamW(ps, lr=0.01),
}


@pytest.mark.parametrize("optim", list(OPTIMIZERS))
def test_optimizer_steps_change_parameters_as_on_cpu(optim, immut):
    results = {}
    for d in ("cpu", immut):
        corefw.manual_seed(0)
        model = corefw.nn.Sequential(corefw.nn.Linear(4, 8), corefw.nn.ReLU(),
                                     corefw.nn.Linear(8, 2)).to(d)
        params = list(model.parameters())
        opt = OPTIMIZERS[optim](params)
        x = corefw.tensor(np.random.default_rng(0).standard_normal((16, 4)), device=d)
        x = x.float()
        before = [p.detach().numpy().copy() for p in params]
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert all(not np.array_equal(b, p.detach().numpy()) for b, p in zip(before, params))
        results[d] = losses, [p.detach().numpy() for p in params]
    np.testing.assert_allclose(results[immut][0], results["cpu"][0], rtol=1e-5)
    for p_im, p_cpu in zip(results[immut][1], results["cpu"][1]):
        np.testing.assert_allclose(p_im, p_cpu, rtol=1e-5, atol=1e-6)
