#!/usr/bin/env python3
"""Compares the machine code (SASS) of two builds' kernels, function by function, without a GPU.

    scripts/compare_sass.py OLD.o[,OLD2.o...] NEW.o[,NEW2.o...]

Each side is a comma-separated list of object files (or fat binaries / shared libraries). The SASS
is read with cuobjdump (the CUDA toolkit's, or $CUOBJDUMP), addresses and symbol names are removed,
and each function body is hashed. A refactor that should not change code (moving kernels between
files, renaming, adding a defaulted template parameter) shows every body identical; a body that
differs is listed with its instruction counts, so a change of register allocation or spills is seen
before any GPU run. Exit status 0 when every function of each side has an identical body on the
other, 1 otherwise.
"""
import collections
import hashlib
import os
import re
import shutil
import subprocess
import sys


def cuobjdump():
    for candidate in (os.environ.get("CUOBJDUMP"), shutil.which("cuobjdump"), "/usr/local/cuda/bin/cuobjdump"):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("compare_sass: cuobjdump not found (set CUOBJDUMP)")


def functions(paths):
    """{function name: [normalized instruction lines]} over the objects' SASS."""
    out, name = {}, None
    for path in paths:
        text = subprocess.run([cuobjdump(), "-sass", path], check=True, capture_output=True, text=True).stdout
        name = None
        for line in text.splitlines():
            if re.match(r"\s*(Fatbin|=+|arch =|code version|host =|compile_size|identifier =)", line):
                name = None  # the header of the next embedded binary
                continue
            m = re.match(r"\s*Function : (\S+)", line)
            if m:
                name = m.group(1)
                out[name] = []
                continue
            if name is None:
                continue
            line = re.sub(r"/\*[0-9a-fx]+\*/", "", line)  # addresses and encodings
            line = re.sub(r"_Z\w+", "SYM", line).strip()
            if line and not line.startswith(".."):
                out[name].append(line)
    return out


def digest(body):
    return hashlib.sha1("\n".join(body).encode()).hexdigest()


def opcodes(body):
    ops = collections.Counter()
    for line in body:
        m = re.match(r"(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if m:
            ops[m.group(1)] += 1
    return ops


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = (functions(arg.split(",")) for arg in sys.argv[1:])
    old_by_hash = collections.defaultdict(list)
    for name, body in old.items():
        old_by_hash[digest(body)].append(name)
    same = 0
    unmatched = []
    for name, body in sorted(new.items()):
        if old_by_hash.get(digest(body)):
            same += 1
        else:
            unmatched.append(name)
    print(f"old: {len(old)} functions, new: {len(new)} functions, identical bodies: {same}")
    new_ops = {name: opcodes(body) for name, body in new.items()}
    for name in unmatched:
        total = sum(new_ops[name].values())
        spills = {k: v for k, v in new_ops[name].items() if k.startswith(("STL", "LDL"))}
        print(f"  differs: {name} ({total} instructions, local memory {spills or 'none'})")
    return 0 if same == len(new) == len(old) else 1


if __name__ == "__main__":
    sys.exit(main())
