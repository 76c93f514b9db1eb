"""Graph records: the nodes autograd records, the per-thread grad mode, and the backward
engine. Below the hot path (which records nodes) and above the Tensor; the public API is
:mod:`corefw.autograd`."""
