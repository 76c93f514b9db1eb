"""corefw.nn.Parameter and the containers: Sequential, ModuleList, ModuleDict, ParameterList,
ParameterDict."""

from collections import OrderedDict

import numpy as np
import pytest
from module_models import Affine
from module_models import np_of as _np

import corefw
from corefw import nn


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
