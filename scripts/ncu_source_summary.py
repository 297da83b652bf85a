#!/usr/bin/env python3
"""Attributes an Nsight Compute profile to CUDA source lines and SASS opcodes.

The device runs `ncu -i REP --page source --csv --print-source sass > sass.csv` (per-instruction
executed counts and stall samples, addresses but no source lines); here, the same kernel compiled
to a cubin with -lineinfo and disassembled with `nvdisasm -g -c` gives each address its source
line. Usage:
  ncu_source_summary.py sass.csv kernel.sass FUNCTION_SUBSTRING [TOP]
"""
import collections
import csv
import re
import sys


def function_lines(sass_path, name_part):
    """address -> (source line, opcode) for the function whose section name contains name_part."""
    lines = open(sass_path).read().split("\n")
    heads = [i for i, l in enumerate(lines) if l.startswith("//-----")]
    start = next(i for i in heads if name_part in lines[i])
    end = next((i for i in heads if i > start), len(lines))
    where, out = None, {}
    for l in lines[start:end]:
        m = re.match(r'\s*//## File "([^"]+)", line (\d+)', l)
        if m:
            where = f"{m.group(1).split('/')[-1]}:{m.group(2)}"
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*)", l)
        if m:
            text = m.group(2).strip()
            op = text.split()[1] if text.startswith("@") else text.split()[0]
            out[int(m.group(1), 16)] = (where, op.split(".")[0])
    return out


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main(csv_path, sass_path, name_part, top=40):
    rows = list(csv.reader(open(csv_path, newline="")))
    header_at = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    header = rows[header_at]
    col = {n: i for i, n in enumerate(header)}
    data = [r for r in rows[header_at + 1:] if len(r) == len(header)]
    base = int(data[0][0], 16)
    where = function_lines(sass_path, name_part)
    inst, stall = collections.Counter(), collections.Counter()
    op_inst, op_stall = collections.Counter(), collections.Counter()
    for r in data:
        line, op = where.get(int(r[0], 16) - base, ("?", "?"))
        n = number(r[col["Instructions Executed"]])
        s = number(r[col["Warp Stall Sampling (All Samples)"]])
        inst[line] += n
        stall[line] += s
        op_inst[op] += n
        op_stall[op] += s
    total, stalls = sum(inst.values()) or 1, sum(stall.values()) or 1
    print(f"warp instructions {total:.4g}, stall samples {stalls:.4g}")
    print("\nsource line                      inst %  stall %")
    for line, n in sorted(inst.items(), key=lambda kv: -(kv[1] / total + stall[kv[0]] / stalls))[:top]:
        print(f"  {line:30s} {100 * n / total:6.2f} {100 * stall[line] / stalls:6.2f}")
    print("\nopcode                           inst %  stall %")
    for op, n in op_inst.most_common(top // 2):
        print(f"  {op:30s} {100 * n / total:6.2f} {100 * op_stall[op] / stalls:6.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 40)
