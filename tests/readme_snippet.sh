#!/usr/bin/env bash
# The README's C++ example compiles and runs as written: the first ```cpp block of README.md,
# built against this tree's headers and shared library.
# usage: readme_snippet.sh <source dir> <libflashfftconv.so> <c++ compiler>
set -euo pipefail
src=$1 lib=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^```cpp$/ {on = 1; next} on && /^```$/ {exit} on {print}' "$src/README.md" > "$work/snippet.cpp"
test -s "$work/snippet.cpp"
"$cxx" -std=c++20 -I"$src/include" "$work/snippet.cpp" "$lib" -Wl,-rpath,"$(dirname "$lib")" -o "$work/snippet"
"$work/snippet"
