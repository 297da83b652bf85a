"""The examples run as users would run them: examples/hyena trains a Hyena-style block on this
package for a few steps and its loss must fall (CPU here; CUDA where present)."""

import importlib.util
import pathlib

import pytest

torch = pytest.importorskip("torch")

_EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "hyena" / "hyena_block.py"


def _load():
    if not _EXAMPLE.exists():
        pytest.skip(f"{_EXAMPLE} is not present (an installed package without the source tree)")
    spec = importlib.util.spec_from_file_location("hyena_block", _EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_learns(device):
    losses = _load().train(steps=40, device=device)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    # Chance is ln(8) = 2.08; the copy task is learned only through the long filter.
    assert last < first - 0.2, (first, last)


def test_hyena_block_learns_on_cpu():
    _check_learns("cpu")


@pytest.mark.cuda
def test_hyena_block_learns_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    _check_learns("cuda")
