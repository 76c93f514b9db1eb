"""corefw.nn.Module: state_dict keys and values, load_state_dict (strict, assign, casts)."""

from collections import OrderedDict

import numpy as np
import pytest
from module_models import NET_KEYS, Net
from module_models import np_of as _np
from module_models import snapshot as _snapshot

import corefw
from corefw import nn
from corefw.errors import StateDictError


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
