"""corefw's version (one place; the package metadata and `corefw --version` read it)."""

__version__ = "0.1.0"
