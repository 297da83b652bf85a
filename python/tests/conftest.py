"""Shared fixtures and markers of the Python tests.

Run from the repository root: `PYTHONPATH=python FLASHFFTCONV_LIBRARY=build/libflashfftconv.so
python3 -m pytest python/tests` (ctest's `python_tests` does exactly that). Tests that need torch
skip when it is not importable; tests marked `cuda` skip when no CUDA device is present; tests of
the backward pass skip while the loaded library does not export ffc_backward.
"""

import importlib.util
import os
import sys

import pytest

# Without PYTHONPATH, test the package of this checkout (an installed one, when present, wins).
if importlib.util.find_spec("flashfftconv") is None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BACKWARD_MISSING = "native backward not yet in this build"


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped when none is present)")
    config.addinivalue_line("markers", "backward: needs the native backward (ffc_backward)")


def _cuda_reason():
    try:
        import torch
    except ImportError:
        return "torch is not importable"
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    import flashfftconv

    if flashfftconv.cuda_device_count() == 0:
        return "the loaded libflashfftconv has no CUDA backend or sees no device"
    return None


def pytest_collection_modifyitems(config, items):
    cuda_reason = None
    backward_missing = None
    for item in items:
        if "cuda" in item.keywords:
            if cuda_reason is None:
                cuda_reason = _cuda_reason() or ""
            if cuda_reason:
                item.add_marker(pytest.mark.skip(reason=cuda_reason))
        if "backward" in item.keywords:
            if backward_missing is None:
                import flashfftconv

                backward_missing = flashfftconv.library_available() and not flashfftconv.has_backward()
            if backward_missing:
                item.add_marker(pytest.mark.skip(reason=BACKWARD_MISSING))

