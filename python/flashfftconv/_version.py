# The package version. It equals the native library's version (CMakeLists.txt `project(... VERSION)`),
# which python/tests/test_native.py checks; pyproject.toml reads it from here.
__version__ = "0.1.0"
