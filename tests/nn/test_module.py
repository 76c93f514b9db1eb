"""corefw.nn.Module: registration, iteration, hooks, modes, to(), repr (state_dict:
test_module_state.py; Parameter and containers: test_containers.py)."""

import copy

import numpy as np
import pytest
from _tolerance import tol
from module_models import Affine, Net
from module_models import np_of as _np

import corefw
from corefw import nn
from corefw.errors import DTypeError


# ---- registration -----------------------------------------------------------------------------
def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(corefw.ones(2))
    m.plain = corefw.ones(2)  # a plain tensor attribute is not a parameter
    m.sub = Affine(2, 2)
    m.register_buffer("buf", corefw.zeros(2))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["buf"] and "plain" in m.__dict__
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    m.w = None  # a registered parameter may become None
    assert m.w is None and "w" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = corefw.ones(2)
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = 3
    m.buf = corefw.ones(3)
    assert m._buffers["buf"].shape == (3,)
    m.sub = nn.Parameter(corefw.ones(1))  # a name moves between kinds
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub, m.buf, m.plain
    assert "sub" not in m._parameters and "buf" not in m._buffers
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'plain'"):
        _ = m.plain


def test_register_errors():
    m = nn.Module()
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("x", nn.Parameter(corefw.ones(1)))
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", corefw.ones(1))
    with pytest.raises(KeyError, match="empty string"):
        m.add_module("", nn.Module())
    with pytest.raises(TypeError, match="not a Module subclass"):
        m.add_module("y", 3)
    with pytest.raises(TypeError, match="corefw.nn.Parameter or None required"):
        m.register_parameter("p", corefw.ones(1))
    m.register_module("child", nn.Module())
    assert isinstance(m.child, nn.Module)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(corefw.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_non_leaf_parameter_rejected():
    m = nn.Module()
    w = nn.Parameter(corefw.ones(2))
    y = w * 2
    with pytest.raises((ValueError, TypeError)):
        m.register_parameter("y", y)


def test_named_members_order_and_dedup():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "fc.weight", "fc.bias", "bn.scale", "head.0.weight", "head.0.bias", "head.1.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "bn.running_mean", "bn.num_batches_tracked", "bn.cache"]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "bn", "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["fc", "bn", "head"]
    assert [n for n, _ in net.named_parameters(prefix="m", recurse=False)] == []
    assert [n for n, _ in net.fc.named_parameters(prefix="m")] == ["m.weight", "m.bias"]
    assert len(list(net.parameters())) == 6 and len(list(net.buffers())) == 3
    assert list(net.children())[0] is net.fc and list(net.modules())[0] is net

    shared = Affine(2, 2)
    m = nn.Module()
    m.a = shared
    m.b = shared
    m.tied = shared.weight
    assert [n for n, _ in m.named_modules()] == ["", "a"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == ["", "a", "b"]
    assert [n for n, _ in m.named_children()] == ["a"]
    assert [n for n, _ in m.named_parameters()] == ["tied", "a.bias"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 5
    # state_dict lists a shared tensor under every path, as PyTorch does
    assert list(m.state_dict()) == ["tied", "a.weight", "a.bias", "b.weight", "b.bias"]


def test_get_submodule_parameter_buffer():
    net = Net()
    assert net.get_submodule("head.1") is net.head[1]
    assert net.get_submodule("") is net
    assert net.get_parameter("head.0.bias") is net.head[0].bias
    assert net.get_buffer("bn.running_mean") is net.bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("head.nope")
    with pytest.raises(AttributeError, match="is not an nn.Module"):
        net.get_submodule("fc.weight")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        net.get_parameter("bn.running_mean")


# ---- forward and backward ---------------------------------------------------------------------
def test_forward_and_gradients_match_numpy(device):
    corefw.manual_seed(0)
    net = Net().double().to(device)
    x = np.random.default_rng(0).standard_normal((5, 4))
    out = net(corefw.tensor(x, device=device))
    w1, b1 = _np(net.fc.weight), _np(net.fc.bias)
    w2, b2, w3 = _np(net.head[0].weight), _np(net.head[0].bias), _np(net.head[1].weight)
    h = (x @ w1.T + b1) * _np(net.bn.scale)
    ref = (h @ w2.T + b2) @ w3.T
    np.testing.assert_allclose(_np(out), ref, rtol=1e-12)
    out.sum().backward()
    # d sum / d b2 = column sums of w3 for each of the 5 rows
    np.testing.assert_allclose(_np(net.head[0].bias.grad), 5 * w3.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(_np(net.head[1].weight.grad),
                               np.tile((h @ w2.T + b2).sum(axis=0), (2, 1)), rtol=1e-12)


def test_missing_forward():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


# ---- hooks ------------------------------------------------------------------------------------
def test_forward_hooks_modify_and_remove(device):
    m = Affine(2, 2).to(device)
    x = corefw.ones(1, 2, device=device)
    base = _np(m(x))
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: args[0] * 2)  # single value -> tuple
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    h3 = m.register_forward_hook(lambda mod, args, out: calls.append(("late", _np(args[0]))))
    m.register_forward_hook(lambda mod, args, out: calls.append(("first",)), prepend=True)
    w, b = _np(m.weight), _np(m.bias)
    np.testing.assert_allclose(_np(m(x)), 2 * np.ones((1, 2)) @ w.T + b + 1,
                               **tol(corefw.float32, device, rtol=1e-6))
    assert [c[0] for c in calls] == ["first", "late"]
    np.testing.assert_array_equal(calls[1][1], 2 * np.ones((1, 2)))
    h1.remove()
    h2.remove()
    h3.remove()
    h3.remove()  # removing twice is harmless
    calls.clear()
    np.testing.assert_allclose(_np(m(x)), base, **tol(corefw.float32, device, rtol=1e-6))
    assert calls == [("first",)]


def test_hooks_with_kwargs_and_context_manager():
    class Scale(nn.Module):
        def forward(self, x, *, factor=1.0):
            return x * factor

    m = Scale()
    seen = {}

    def pre(mod, args, kwargs):
        return args, {**kwargs, "factor": 3.0}

    def post(mod, args, kwargs, out):
        seen["kwargs"] = kwargs
        return out - 1

    with m.register_forward_pre_hook(pre, with_kwargs=True):
        with m.register_forward_hook(post, with_kwargs=True):
            assert m(corefw.tensor([2.0]), factor=2.0).item() == 5.0
        assert seen["kwargs"] == {"factor": 3.0}
        assert m(corefw.tensor([2.0])).item() == 6.0
    assert m(corefw.tensor([2.0])).item() == 2.0
    m.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        m(corefw.tensor([1.0]))


def test_always_call_hook_runs_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Boom()
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append("always"), always_call=True)
    m.register_forward_hook(lambda mod, args, out: seen.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(1)
    assert seen == ["always"]


def test_provenance_records_the_innermost_module():
    net = nn.Sequential(Affine(2, 2))
    x = corefw.ones(1, 2, requires_grad=True)
    assert net(x).grad_fn.module is None  # off by default
    with corefw.autograd.record_module_provenance():
        out = net(x)
    assert isinstance(out.grad_fn.module, Affine)


# ---- modes, grads, apply, to ------------------------------------------------------------------
def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.head.train()
    assert net.head[1].training and not net.fc.training
    with pytest.raises(ValueError, match="bool"):
        net.train("no")


def test_requires_grad_zero_grad_apply(device):
    net = Net().to(device)
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    net(corefw.ones(2, 4, device=device)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(_np(p.grad) == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    assert order == ["Affine", "Norm", "Affine", "Affine", "Sequential", "Net"]


def test_to_dtype_keeps_parameter_identity(device):
    net = Net().to(device)
    net(corefw.ones(2, 4, device=device)).sum().backward()
    refs = list(net.parameters())
    values = [_np(p) for p in refs]
    assert net.to(corefw.float64) is net
    assert all(a is b for a, b in zip(refs, net.parameters()))
    assert all(p.dtype == corefw.float64 and p.grad.dtype == corefw.float64 for p in refs)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in refs)
    for p, v in zip(refs, values):
        np.testing.assert_array_equal(_np(p), v)
    assert net.bn.running_mean.dtype == corefw.float64
    assert net.bn.num_batches_tracked.dtype == corefw.int64  # integers keep their dtype
    out = net(corefw.ones(2, 4, dtype=corefw.float64, device=device))
    assert out.dtype == corefw.float64
    net.float()
    assert net.fc.weight.dtype == corefw.float32 and net.fc.weight is refs[0]
    net.half()
    assert net.fc.bias.dtype == corefw.float16
    net.to(corefw.zeros(1, dtype=corefw.float64, device=device))
    assert net.fc.bias.dtype == corefw.float64
    net.to(device="cpu", dtype=corefw.float32).cpu()
    assert str(net.fc.weight.device) == "cpu" and net.fc.weight.dtype == corefw.float32
    with pytest.raises(DTypeError, match="floating point"):
        net.to(corefw.int64)
    with pytest.raises(TypeError, match="unexpected keyword"):
        net.to(memory="x")


def test_deepcopy_is_independent(device):
    net = Net().to(device)
    clone = copy.deepcopy(net)
    assert clone.fc.weight is not net.fc.weight
    np.testing.assert_array_equal(_np(clone.fc.weight), _np(net.fc.weight))
    with corefw.no_grad():
        clone.fc.weight.fill_(0.0)
    assert not np.all(_np(net.fc.weight) == 0)
    assert isinstance(clone.fc.weight, nn.Parameter)


# ---- repr -------------------------------------------------------------------------------------
def test_repr():
    assert repr(Net()) == (
        "Net(\n"
        "  (fc): Affine(n_in=4, n_out=3)\n"
        "  (bn): Norm()\n"
        "  (head): Sequential(\n"
        "    (0): Affine(n_in=3, n_out=2)\n"
        "    (1): Affine(n_in=2, n_out=2)\n"
        "  )\n"
        ")")
    ml = nn.ModuleList([Affine(2, 2), Affine(2, 2), Affine(2, 3)])
    assert repr(ml) == ("ModuleList(\n  (0-1): 2 x Affine(n_in=2, n_out=2)\n"
                        "  (2): Affine(n_in=2, n_out=3)\n)")


def test_module_provenance_recorded_by_autograd():
    net = nn.Sequential(Affine(3, 2))
    with corefw.autograd.record_module_provenance():
        out = net(corefw.randn(4, 3))
    assert out.grad_fn.module is net[0]  # the innermost module that was running
    assert net(corefw.randn(4, 3)).grad_fn.module is None  # off again after the block
