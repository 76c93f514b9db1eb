"""corefw.nn.Module: registration, iteration, state_dict, hooks, modes, to(), repr."""

import copy
from collections import OrderedDict

import numpy as np
import pytest
from _tolerance import tol

import corefw
from corefw import nn
from corefw.errors import DTypeError, StateDictError


def _np(t):
    return np.array(t.detach().cpu().numpy(), dtype=np.float64)


class Affine(nn.Module):
    """y = x @ W.T + b, from Parameters and tensor ops only."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.weight = nn.Parameter(corefw.randn(n_out, n_in))
        self.bias = nn.Parameter(corefw.randn(n_out)) if bias else None

    def forward(self, x):
        y = x @ self.weight.transpose(0, 1)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"n_in={self.n_in}, n_out={self.n_out}"


class Norm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(corefw.ones(n))
        self.register_buffer("running_mean", corefw.zeros(n))
        self.register_buffer("num_batches_tracked", corefw.tensor(0, dtype=corefw.int64))
        self.register_buffer("cache", corefw.zeros(n), persistent=False)

    def forward(self, x):
        return (x - self.running_mean) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = Affine(4, 3)
        self.bn = Norm(3)
        self.head = nn.Sequential(Affine(3, 2), Affine(2, 2, bias=False))

    def forward(self, x):
        return self.head(self.bn(self.fc(x)))


NET_KEYS = ["fc.weight", "fc.bias", "bn.scale", "bn.running_mean", "bn.num_batches_tracked",
            "head.0.weight", "head.0.bias", "head.1.weight"]


def _snapshot(model):
    return {k: _np(v).copy() for k, v in model.state_dict().items()}


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


# ---- state_dict -------------------------------------------------------------------------------
def test_state_dict_keys_and_detached_values():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict) and list(sd) == NET_KEYS
    for key, value in sd.items():
        owner, _, name = key.rpartition(".")
        live = getattr(net.get_submodule(owner), name)
        assert not isinstance(value, nn.Parameter)
        assert not value.requires_grad and value.grad_fn is None
        assert np.shares_memory(value.numpy(), live.detach().numpy())  # an alias, not a copy
    assert sd["bn.num_batches_tracked"].dtype == corefw.int64
    kept = net.state_dict(keep_vars=True)
    assert kept["fc.weight"] is net.fc.weight
    assert list(net.fc.state_dict(prefix="enc.")) == ["enc.weight", "enc.bias"]


def test_load_state_dict_round_trip_keeps_identity(device):
    src, dst = Net(), Net().to(device)  # a cpu checkpoint into a model on the device
    refs = list(dst.parameters())  # what an optimizer holds
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    assert all(a is b for a, b in zip(refs, dst.parameters()))
    for k, v in _snapshot(src).items():
        np.testing.assert_array_equal(_snapshot(dst)[k], v)
    assert dst.fc.weight.requires_grad and dst.fc.weight.is_leaf
    assert dst.fc.weight.device == corefw.device(device)


def test_load_state_dict_accepts_numpy_and_casts(device):
    net = Net().to(device)
    sd = {k: _np(v) + 1.0 for k, v in Net().state_dict().items()}  # float64 numpy arrays
    sd["bn.num_batches_tracked"] = np.array(7)
    net.load_state_dict(sd)
    assert net.fc.weight.dtype == corefw.float32
    assert net.fc.weight.device == net.bn.num_batches_tracked.device == corefw.device(device)
    np.testing.assert_allclose(_np(net.fc.weight), sd["fc.weight"], rtol=1e-6)
    assert net.bn.num_batches_tracked.item() == 7
    assert net.bn.num_batches_tracked.dtype == corefw.int64


def test_strict_error_reports_everything_and_changes_nothing():
    net = Net()
    before = _snapshot(net)
    sd = Net().state_dict()
    del sd["fc.bias"], sd["bn.running_mean"]
    sd["extra.weight"] = corefw.zeros(1)
    sd["head.0.weight"] = corefw.zeros(2, 5)
    sd["head.1.weight"] = corefw.zeros(7)
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert 'Missing key(s) in state_dict: "fc.bias", "bn.running_mean".' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in msg
    assert ("size mismatch for head.0.weight: copying a param with shape (2, 5) from "
            "checkpoint, the shape in current model is (2, 3).") in msg
    assert "size mismatch for head.1.weight" in msg and "strict=False" in msg
    after = _snapshot(net)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)


def test_non_strict_loads_matching_keys_but_not_mismatched_shapes():
    net, src = Net(), Net()
    sd = src.state_dict()
    del sd["fc.bias"]
    sd["unused"] = corefw.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["unused"]
    assert result == (["fc.bias"], ["unused"])
    np.testing.assert_array_equal(_np(net.fc.weight), _np(src.fc.weight))

    before = _snapshot(net)
    sd["fc.weight"] = corefw.zeros(3, 5)
    with pytest.raises(StateDictError, match="size mismatch for fc.weight"):
        net.load_state_dict(sd, strict=False)
    sd["fc.weight"] = "not a tensor"
    with pytest.raises(StateDictError, match='parameter named "fc.weight"'):
        net.load_state_dict(sd, strict=False)
    after = _snapshot(net)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])


def test_load_ignores_non_persistent_buffers_and_assign():
    net = Net()
    sd = Net().state_dict()
    assert "bn.cache" not in sd
    sd["bn.cache"] = corefw.ones(3)
    with pytest.raises(StateDictError, match='Unexpected key.*"bn.cache"'):
        net.load_state_dict(sd)
    del sd["bn.cache"]
    new_w = sd["fc.weight"]
    net.load_state_dict(sd, assign=True)
    assert isinstance(net.fc.weight, nn.Parameter) and net.fc.weight.requires_grad
    assert np.shares_memory(net.fc.weight.detach().numpy(), new_w.numpy())


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


# ---- Parameter --------------------------------------------------------------------------------
def test_parameter():
    data = corefw.ones(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, corefw.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert np.shares_memory(p.detach().numpy(), data.numpy())
    assert repr(p).startswith("Parameter containing:\n")
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    x = corefw.ones(2, requires_grad=True)
    q = nn.Parameter(x * 3)  # from a non-leaf: a detached leaf alias
    assert q.is_leaf and q.grad_fn is None and q.requires_grad
    np.testing.assert_array_equal(_np(q), [3.0, 3.0])
    with pytest.raises(TypeError, match="expected a corefw.Tensor"):
        nn.Parameter(np.ones(2))
    (p * p).sum().backward()
    np.testing.assert_array_equal(_np(p.grad), 2 * np.ones((2, 3)))


# ---- containers -------------------------------------------------------------------------------
def test_sequential_chains_and_indexes():
    a, b, c = Affine(3, 4), Affine(4, 4), Affine(4, 2)
    seq = nn.Sequential(a, b, c)
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    ref = x
    for m in (a, b, c):
        ref = ref @ _np(m.weight).T + _np(m.bias)
    np.testing.assert_allclose(_np(seq(corefw.tensor(x))), ref, rtol=1e-5, atol=1e-6)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == [
        "1", "2"]
    assert list(seq.state_dict())[:3] == ["0.weight", "0.bias", "1.weight"]
    d = Affine(2, 2)
    seq.append(d)
    assert seq[3] is d
    seq[3] = Affine(2, 5)
    assert seq(corefw.tensor(x)).shape == (2, 5)
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and seq[0] is b
    seq.insert(0, a)
    assert list(seq) [:3] == [a, b, c] and list(seq._modules) == ["0", "1", "2", "3"]
    assert seq.pop() is not d and len(seq) == 3
    seq.extend([d])
    assert seq[-1] is d
    del seq[1:3]
    assert list(seq) == [a, d]
    assert list(nn.Sequential(a) + nn.Sequential(d)) == [a, d]
    named = nn.Sequential(OrderedDict([("enc", Affine(3, 4)), ("dec", Affine(4, 3))]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert named(corefw.tensor(x)).shape == (2, 3)


def test_module_list():
    mods = [Affine(2, 2) for _ in range(3)]
    ml = nn.ModuleList(mods[:2])
    ml.append(mods[2])
    assert len(ml) == 3 and list(ml) == mods and ml[-1] is mods[2]
    assert isinstance(ml[1:], nn.ModuleList) and list(ml[1:]) == mods[1:]
    assert [n for n, _ in ml.named_parameters()][:3] == ["0.weight", "0.bias", "1.weight"]
    extra = Affine(2, 2)
    ml.insert(1, extra)
    assert list(ml) == [mods[0], extra, mods[1], mods[2]]
    del ml[1]
    assert list(ml) == mods and list(ml._modules) == ["0", "1", "2"]
    ml += [extra]
    assert ml[3] is extra
    ml[0] = extra
    assert ml[0] is extra and len(list(ml.parameters())) == 6  # extra is shared: counted once
    assert ml.pop(0) is extra and len(ml) == 3
    del ml[0:2]
    assert list(ml) == [extra]
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(Affine(1, 1))
    with pytest.raises(NotImplementedError):
        ml(1)


def test_module_dict():
    md = nn.ModuleDict({"enc": Affine(2, 3)})
    md["dec"] = Affine(3, 2)
    md.update([("post", Affine(2, 2))])
    assert list(md) == ["enc", "dec", "post"] and len(md) == 3 and "dec" in md
    assert list(md.keys()) == ["enc", "dec", "post"]
    assert isinstance(md["enc"], Affine) and list(md.values())[1] is md["dec"]
    assert list(md.state_dict())[:2] == ["enc.weight", "enc.bias"]
    popped = md.pop("post")
    assert isinstance(popped, Affine) and "post" not in md
    del md["dec"]
    assert list(md.items()) == [("enc", md["enc"])]
    with pytest.raises(ValueError, match="pair"):
        md.update([1])
    md.clear()
    assert len(md) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([corefw.ones(2), nn.Parameter(corefw.zeros(3))])
    pl.append(corefw.ones(1))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert pl[-1].shape == (1,) and len(pl[:2]) == 2
    assert "(1): Parameter containing: [corefw.float32 of size 3]" in repr(pl)

    pd = nn.ParameterDict({"a": corefw.ones(2)})
    pd["b"] = nn.Parameter(corefw.zeros(1))
    assert list(pd) == ["a", "b"] and "a" in pd and isinstance(pd["a"], nn.Parameter)
    assert list(pd.state_dict()) == ["a", "b"]
    assert pd.pop("a").shape == (2,) and list(pd.keys()) == ["b"]
    with pytest.raises(KeyError):
        pd["a"]
    outer = nn.Module()
    outer.params = pl
    assert list(outer.state_dict()) == ["params.0", "params.1", "params.2"]


def test_module_provenance_recorded_by_autograd():
    net = nn.Sequential(Affine(3, 2))
    with corefw.autograd.record_module_provenance():
        out = net(corefw.randn(4, 3))
    assert out.grad_fn.module is net[0]  # the innermost module that was running
    assert net(corefw.randn(4, 3)).grad_fn.module is None  # off again after the block
