#!/bin/sh
# Runs the Python package's tests (python/tests) against a build's shared library; ctest's
# `python_tests` calls it as: run_pytest.sh <path of libflashfftconv.so> [python executable].
# Exits 77 (ctest: skipped) with a message when python3 or pytest is missing, except under CI=true,
# where a missing interpreter or pytest is an error (.ci/run installs them).
lib="$1"
py="${2:-python3}"
root=$(cd "$(dirname "$0")/../.." && pwd)

missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "python_tests: FAILED: $1 (CI=true: .ci/run should have installed it)"
    exit 1
  fi
  echo "python_tests: skipped: $1 (install with: python3 -m pip install pytest numpy torch)"
  exit 77
}

case "$py" in *-NOTFOUND | "") missing "no python3 on the PATH" ;; esac
command -v "$py" >/dev/null 2>&1 || missing "$py not found"
"$py" -c "import pytest" 2>/dev/null || missing "pytest is not importable by $py"
if [ "${CI:-}" = "true" ]; then
  "$py" -c "import numpy, torch" || missing "numpy or torch is not importable by $py"
fi

PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
FLASHFFTCONV_LIBRARY="$lib"
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH FLASHFFTCONV_LIBRARY PYTHONDONTWRITEBYTECODE
cd "$root" || exit 1
exec "$py" -m pytest -p no:cacheprovider -q -rs python/tests
