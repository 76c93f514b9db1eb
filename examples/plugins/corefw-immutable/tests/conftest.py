pytest_plugins = ["corefw.testing.plugin"]  # corefw's conformance kit joins this suite
