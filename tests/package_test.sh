#!/usr/bin/env bash
# The installed package as an outside user sees it: `cmake --install` of this build into a fresh
# prefix, then examples/cpp configured with find_package(flashfftconv CONFIG), built and run, and
# (where pkg-config exists) a C program compiled and run with the installed flashfftconv.pc.
# usage: package_test.sh <build dir> <source dir>
set -euo pipefail
build=$1 src=$2
work=$build/package-test
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/ffc/ffc.hpp" && test -f "$work/prefix/lib/cmake/flashfftconv/flashfftconvConfig.cmake"
cmake -S "$src/examples/cpp" -B "$work/example" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log"
cmake --build "$work/example" > "$work/build.log"
"$work/example/causal_conv"
if command -v pkg-config > /dev/null && command -v cc > /dev/null; then
  cat > "$work/version.c" <<'C'
#include <ffc/ffc.h>
#include <stdio.h>
int main(void) { printf("pkg-config: flashfftconv %s\n", ffc_version_string()); return 0; }
C
  # shellcheck disable=SC2046
  cc "$work/version.c" -o "$work/version" $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs flashfftconv)
  LD_LIBRARY_PATH="$work/prefix/lib" "$work/version"
else
  echo "pkg-config or cc not found: the pkg-config file is installed but not compiled against"
fi
