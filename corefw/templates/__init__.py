"""Templates of ``corefw new-plugin`` (package data; see README.md here and
:mod:`corefw.new_plugin`)."""
