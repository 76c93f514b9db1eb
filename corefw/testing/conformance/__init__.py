"""The conformance kit's tests: ``python -m pytest --pyargs corefw.testing.conformance
--corefw-backend=NAME`` (see :mod:`corefw.testing`)."""
