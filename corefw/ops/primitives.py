"""These are the primitives a backend must implement; every other op decomposes into them.

Each primitive is about one line of NumPy; :mod:`corefw.backend.toolkit` has that line for any
NumPy-like array module, and the conformance kit checks a backend against an independent float64
reference. Kernel convention: ``kernel(*operands, **attrs) -> new native array``. Operands are
native arrays; binary ops may also receive a Python scalar on either side. ``dim``/``dims``
attributes are already normalised (non-negative ints, tuples for reductions). Kernels are pure,
except the two in-place primitives marked ``(in place)``, which the dispatcher pairs with a
version-counter bump.

=============  ===========================================================================
group          primitive(signature)  -- meaning
=============  ===========================================================================
memory         full(shape, fill_value, dtype)       arange(start, end, step, dtype)
               clone(x)  cast(x, dtype)             copy_(dst, src)  (in place, broadcasts)
random         uniform(shape, low, high, dtype)     normal(shape, mean, std, dtype)
               randint(shape, low, high, dtype)     randperm(n, dtype)
unary          neg exp log sqrt tanh sin cos abs sign floor ceil round erf bitwise_not
binary         add sub mul div pow maximum minimum floor_divide remainder
               eq ne lt le gt ge bitwise_and bitwise_or bitwise_xor     where(cond, a, b)
reduce         sum prod amax amin (x, dim: tuple, keepdim)    argmax argmin (x, dim, keepdim)
               cumsum(x, dim)
movement       reshape(x, shape)  permute(x, dims)  expand(x, shape)  flip(x, dims)
               slice(x, key)  -- basic indexing: ints, slices, None, Ellipsis
               pad(x, pad: ((lo, hi), ...) per dim, value)            cat(*xs, dim)
indexing       gather(x, index, dim)  scatter_add(x, index, src, dim)  nonzero(x)
               index(x, key)  -- key mixes slices and integer/bool arrays (NumPy semantics)
               index_put(x, values, key=, accumulate=)  index_put_(x, values, key=, accumulate=)
linalg         matmul(a, b)  -- NumPy matmul semantics, 1-D to N-D batched
=============  ===========================================================================
"""

from __future__ import annotations

MEMORY = ("full", "arange", "clone", "cast", "copy_")
RANDOM = ("uniform", "normal", "randint", "randperm")
UNARY = ("neg", "exp", "log", "sqrt", "tanh", "sin", "cos", "abs", "sign", "floor", "ceil",
         "round", "erf", "bitwise_not")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "floor_divide", "remainder",
          "bitwise_and", "bitwise_or", "bitwise_xor")
COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
TERNARY = ("where",)
REDUCE = ("sum", "prod", "amax", "amin", "argmax", "argmin", "cumsum")
MOVEMENT = ("reshape", "permute", "expand", "flip", "slice", "pad", "cat")
INDEXING = ("gather", "scatter_add", "nonzero", "index", "index_put", "index_put_")
LINALG = ("matmul",)

GROUPS: dict[str, tuple[str, ...]] = {
    "memory": MEMORY, "random": RANDOM, "unary": UNARY, "binary": BINARY, "compare": COMPARE,
    "ternary": TERNARY, "reduce": REDUCE, "movement": MOVEMENT, "indexing": INDEXING,
    "linalg": LINALG,
}

#: Every primitive, in the order above.
PRIMITIVES: tuple[str, ...] = tuple(name for group in GROUPS.values() for name in group)

#: Primitives whose results are views of their first operand on backends with "views".
VIEW_OPS = frozenset({"reshape", "permute", "expand", "slice"})

#: Primitives that write into their first operand.
INPLACE_OPS = frozenset({"copy_", "index_put_"})
