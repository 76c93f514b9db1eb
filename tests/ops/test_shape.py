"""Shape and movement ops: views sharing storage and version counter with their base, shapes of
0-d and empty results, and the errors. Values and gradients of every movement function (view,
flatten, squeeze, permute, roll, tril, stack, split, the pad modes ...) are rows of the op table
(corefw.testing, run by test_op_table.py)."""

from __future__ import annotations

import numpy as np
import pytest

import corefw
from corefw.errors import CorefwIndexError, ShapeError

from .helpers import check, make, sample

VIEWS = {  # name -> (a call that returns a view, input shape)
    "reshape": (lambda t: t.reshape(4, -1), (2, 3, 2)), "view": (lambda t: t.view(-1), (2, 3)),
    "flatten": (lambda t: t.flatten(), (2, 3, 2)), "squeeze": (lambda t: t.squeeze(), (1, 3, 1, 2)),
    "unsqueeze": (lambda t: t.unsqueeze(1), (2, 3)),
    "permute": (lambda t: t.permute(2, 0, 1), (2, 3, 2)),
    "transpose": (lambda t: t.transpose(0, -1), (2, 3, 2)), "T": (lambda t: t.T, (2, 3, 2)),
}


EDGES = {  # id -> (call, input shape, output shape): 0-d and empty inputs that no kernel sees
    # (the others are rows of the op table: reshape(0-d), expand(empty), stack(empty) ...)
    "squeeze_0d": (lambda t: t.squeeze(0), (), ()),
    "permute_0d": (lambda t: t.permute(), (), ()),
    "transpose_0d": (lambda t: t.transpose(0, -1), (), ()),
    "movedim_0d": (lambda t: t.movedim(0, -1), (), ()),
    "roll_empty": (lambda t: t.roll(1, 0), (0, 3), (0, 3)),
    "roll_0d": (lambda t: t.roll(1), (), ()),
    "cat_empty": (lambda t: corefw.cat([t, t]), (0, 3), (0, 3)),
    "gather_empty": (lambda t: corefw.gather(t, 1, corefw.zeros(0, 2, dtype=corefw.int64,
                                                                device=t.device)),
                     (0, 3), (0, 2)),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_movement_on_0d_and_empty_inputs(name, device):
    fn, shape, expected = EDGES[name]
    x = corefw.full(shape, 2.5, device=device)
    out = fn(x)
    assert out.shape == expected and out.dtype is corefw.float32
    if out.numel():
        assert np.all(out.numpy() == 2.5)
    with pytest.raises(ShapeError, match="at least one dimension"):
        corefw.split(corefw.tensor(1.0, device=device), 1)


@pytest.mark.parametrize("name", ["reshape", "view", "flatten", "squeeze", "unsqueeze",
                                  "permute", "transpose", "T"])
def test_views_share_storage_and_version_counter(name, device):
    fn, shape = VIEWS[name]
    base = corefw.zeros(*shape, device=device)
    v = fn(base)
    assert v._version == base._version == 0
    with corefw.no_grad():
        v.add_(1.0)  # in place on the view changes the base
    assert base._version == 1 and v._version == 1
    assert np.all(base.numpy() == 1.0)
    base.mul_(3.0)  # and the other way round
    assert v._version == 2 and np.all(v.numpy() == 3.0)
    w = fn(base)[(0,) * (len(v.shape) - 1)]  # a view of a view
    w.fill_(7.0)
    assert base._version == 3 and (base.numpy() == 7.0).sum() == w.numel()


def test_in_place_into_an_expanded_tensor_is_a_clear_error(device):
    v = corefw.zeros(3, 1, device=device).expand(3, 4)
    with pytest.raises(ShapeError, match="expanded"):
        v.add_(1.0)
    v.clone().add_(1.0)  # a clone owns its memory


def test_split_and_chunk_are_views(device):
    base = corefw.arange(6.0, device=device)
    a, b = base.split(3)
    b.zero_()
    assert base.tolist() == [0.0, 1.0, 2.0, 0.0, 0.0, 0.0] and a._version == 1


def test_unbind_and_split_are_one_node_whose_backward_joins_once(device):
    """x[t] at each of T steps gave each step's gradient back as zeros of all of x (O(T^2) in
    all); the pieces of unbind/split are one node's outputs, joined by one cat/stack."""
    x = corefw.randn(50, 4, dtype=corefw.float64, device=device, requires_grad=True)
    steps = x.unbind(0)
    assert len({t.grad_fn.node for t in steps}) == 1
    assert steps[0].grad_fn.name() == "UnbindBackward"
    assert x.split(7)[0].grad_fn.name() == "SplitBackward"
    table = x._dev.table
    calls = {"cat": 0, "index_put": 0, "full": 0}
    kernels = {name: table[name] for name in calls}

    def counting(name):
        def kernel(*args, **attrs):
            calls[name] += 1
            return kernels[name](*args, **attrs)
        return kernel

    loss = sum((t * (i + 1)).sum() for i, t in enumerate(steps[:-1]))  # the last: no grad
    try:
        table.update({name: counting(name) for name in calls})
        loss.backward()
    finally:
        table.update(kernels)
    # one join; two fills: backward's seed gradient and zeros for the piece without one
    assert calls == {"cat": 1, "index_put": 0, "full": 2}
    want = np.arange(1, 51, dtype=np.float64)[:, None].repeat(4, 1)
    want[-1] = 0
    check(x.grad, want)


def test_unbind_pieces_are_views_that_can_change_in_place(device):
    base = corefw.arange(6.0, device=device).reshape(3, 2)
    a, b, c = base.unbind(0)
    b.add_(10.0)
    assert base.tolist() == [[0.0, 1.0], [12.0, 13.0], [4.0, 5.0]] and a._version == 1
    # while recording: the base's graph takes the change, the other pieces are regenerated
    x = corefw.ones(3, 2, dtype=corefw.float64, device=device, requires_grad=True)
    y = x * 2
    p, q, r = y.unbind(0)
    q.mul_(3.0)
    (p.sum() + q.sum() + (y * y).sum()).backward()
    # y = [2, 6, 2] per row after the change; d/dx of p + q + sum(y^2) through the chain
    check(x.grad, [[2 + 8, 2 + 8], [6 + 72, 6 + 72], [8, 8]])


def test_unbind_and_split_differentiate_twice(device):
    x = corefw.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=corefw.float64, device=device,
                      requires_grad=True)
    a, b = x.unbind(1)
    (g,) = corefw.autograd.grad((a * a * b).sum(), x, create_graph=True)
    check(g, [[2 * 1 * 2, 1], [2 * 3 * 4, 9]])  # (2ab, a^2)
    (h,) = corefw.autograd.grad(g.sum(), x)
    check(h, [[2 * 2 + 2 * 1, 2 * 1], [2 * 4 + 2 * 3, 2 * 3]])  # (2b + 2a, 2a)
    assert corefw.autograd.gradgradcheck(lambda t: corefw.stack(
        [u * v for u, v in zip(*t.split(1, 0))], 0), (x,))


def test_cat_stack_edge_cases(rng, device):
    a = corefw.ones(2, 3, device=device)
    assert corefw.cat([a, corefw.zeros(2, 0, device=device)], 1).shape == (2, 3)
    # PyTorch's legacy 1-D empty
    assert corefw.cat([corefw.zeros(0, device=device), a]).shape == (2, 3)
    assert corefw.cat([a, corefw.ones(1, 3, device=device)]).shape == (3, 3)
    assert corefw.cat([a, corefw.ones(2, 3, dtype=corefw.int64, device=device)]).dtype \
        is corefw.float32
    assert corefw.cat([corefw.tensor([1], device=device),
                       corefw.tensor([2.0], dtype=corefw.float64, device=device)]).dtype \
        is corefw.float64
    assert corefw.stack([corefw.tensor(1.0, device=device),
                         corefw.tensor(2.0, device=device)]).tolist() == [1.0, 2.0]
    assert corefw.concat([a, a], -1).shape == (2, 6)
    with pytest.raises(ShapeError, match=r"tensor 1 has shape \(2, 4\)"):
        corefw.cat([a, corefw.ones(2, 4, device=device)])
    with pytest.raises(ShapeError, match="zero-dimensional"):
        corefw.cat([corefw.tensor(1.0, device=device), corefw.tensor(2.0, device=device)])
    with pytest.raises(ShapeError, match="equal size"):
        corefw.stack([a, corefw.ones(3, 2, device=device)])
    with pytest.raises(ShapeError, match="non-empty"):
        corefw.cat([])


@pytest.mark.parametrize("arg,dim,sizes", [(2, 0, [2, 2, 1]), ([1, 4], 0, [1, 4]),
                                           (3, 1, [3]), (5, 0, [5]), (1, -1, [1, 1, 1])])
def test_split(arg, dim, sizes, rng, device):
    data = sample(rng, (5, 3))
    parts = corefw.split(make(data, layout="strided", device=device), arg, dim)
    assert [p.shape[dim] for p in parts] == sizes
    check(corefw.cat(parts, dim), data)
    with pytest.raises(ShapeError, match="sum to"):
        corefw.split(make(data, device=device), [1, 1], 0)


@pytest.mark.parametrize("n,chunks,sizes", [(5, 3, [2, 2, 1]), (6, 4, [2, 2, 2]),
                                            (3, 5, [1, 1, 1]), (4, 1, [4])])
def test_chunk_follows_torch(n, chunks, sizes, device):
    parts = corefw.arange(n, device=device).chunk(chunks)
    assert [p.numel() for p in parts] == sizes
    assert corefw.cat(parts).tolist() == list(range(n))


def test_reshape_view_expand_errors(device):
    x = corefw.zeros(2, 3, device=device)
    with pytest.raises(ShapeError, match=r"shape \(4, 2\) is invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(ShapeError, match="only one dimension can be -1"):
        x.reshape(-1, -1)
    with pytest.raises(ShapeError, match="must match 4 or be 1"):
        x.expand(2, 4)
    with pytest.raises(ShapeError, match="at least the number of dims"):
        x.expand(3)
    with pytest.raises(ShapeError, match="not a permutation"):
        x.permute(0, 0)
    with pytest.raises(CorefwIndexError, match="out of range"):
        x.unsqueeze(3)
    with pytest.raises(ShapeError, match="at least 2 dims"):
        corefw.tril(corefw.zeros(3, device=device))


def test_tril_triu_keep_dtype(device):
    assert corefw.ones(3, 3, dtype=corefw.bool, device=device).tril().tolist() == \
        [[True, False, False], [True, True, False], [True, True, True]]
    assert corefw.ones(2, 2, dtype=corefw.int32, device=device).triu().dtype is corefw.int32


# -- pad -------------------------------------------------------------------------------------
def test_pad_errors_and_dtypes(device):
    assert corefw.pad(corefw.arange(3, device=device), (1, 1)).tolist() == [0, 0, 1, 2, 0]
    with pytest.raises(ShapeError, match="even length"):
        corefw.pad(corefw.zeros(3, device=device), (1,))
    with pytest.raises(ShapeError, match="reflect padding"):
        corefw.pad(corefw.zeros(1, 3, device=device), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        corefw.pad(corefw.zeros(1, 3, device=device), (1, 0), mode="wrap")


# -- gather / scatter_add ----------------------------------------------------------------------
def test_gather_repeated_indices_accumulate_gradients(device):
    x = corefw.tensor([1.0, 2.0, 3.0], dtype=corefw.float64, requires_grad=True, device=device)
    corefw.gather(x, 0, corefw.tensor([0, 0, 2, 0], device=device)).sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_gather_errors(device):
    x = corefw.zeros(2, 3, device=device)
    with pytest.raises(corefw.errors.DTypeError, match="integer tensor"):
        corefw.gather(x, 0, corefw.zeros(2, 3, device=device))
    with pytest.raises(ShapeError, match="as many dims"):
        corefw.gather(x, 0, corefw.tensor([0, 1], device=device))


def test_reshape_of_a_non_contiguous_tensor_copies_and_is_not_a_view(rng, device):
    data = sample(rng, (2, 3, 4))
    x = make(data, device=device)
    v = x.transpose(0, 1).reshape(3, -1)  # NumPy must copy: PyTorch's reshape copies too
    check(v, data.swapaxes(0, 1).reshape(3, -1))
    v.add_(1.0)
    assert x._version == 0 and v._version == 1
    check(x, data)  # the base did not change
    c = x.reshape(6, 4)  # contiguous: a view
    c.add_(1.0)
    assert x._version == 1
    check(x, data + 1.0)
    a = corefw.ones(2, 3, dtype=corefw.float64, requires_grad=True, device=device)
    y = (a * 1.0).T.reshape(-1)
    y.mul_(2.0)  # a copy, not a view: in place while recording is allowed
    y.sum().backward()
    assert a.grad.tolist() == [[2.0] * 3] * 2
