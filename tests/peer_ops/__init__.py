"""The peer op suite: PyTorch-API op cases (``import corefw as torch``) against float64 NumPy
references and finite-difference gradients. ``cd tests && python -m peer_ops`` prints the
per-op report; ``test_peer_ops.py`` asserts the pass rate."""
