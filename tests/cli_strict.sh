#!/usr/bin/env bash
# The program's handling of bad input: each bad value is a usage error (exit 2) whose message names
# the option; inputs that overflow the output dtype exit 3 with their own message, not an accuracy
# FAIL; and a small good run exits 0 with valid JSON (null, never a sentinel, where nothing was
# measured). Every case runs on the CPU backend in well under a second.
# usage: cli_strict.sh <path of the flashfftconv program>
set -uo pipefail
program=$1
small=(run --backend cpu --fft-size 256 --batch 1 --heads 2 --repeat 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect <exit status> <text stderr must contain, or ""> <program arguments...>
expect() {
  local want=$1 text=$2
  shift 2
  local args
  args=$(printf '%q ' "$@")
  timeout 20 "$program" "$@" > "$work/out" 2> "$work/err"
  local got=$?
  if [[ $got -ne $want ]]; then
    fail "$args: exit status $got, expected $want"
    sed 's/^/  stderr: /' "$work/err"
  elif [[ -n $text ]] && ! grep -qF -- "$text" "$work/err"; then
    fail "$args: stderr does not mention '$text'"
    sed 's/^/  stderr: /' "$work/err"
  else
    echo "ok ($got): $args| $(head -n 1 "$work/err")"
  fi
}

# Negative, zero, out-of-range, 32-bit-truncating and non-integer values.
expect 2 "--length: -5" "${small[@]}" --length -5
expect 2 "--filter-length: -7" "${small[@]}" --filter-length -7
expect 2 "--length: 300 exceeds --fft-size 256" "${small[@]}" --length 300
expect 2 "--filter-length" "${small[@]}" --filter-length 257
expect 2 "--threads: 4294967297" "${small[@]}" --threads 4294967297
expect 2 "--threads" "${small[@]}" --threads 1025
expect 2 "--threads" "${small[@]}" --threads -1
expect 2 "--repeat: 4294967297" "${small[@]}" --repeat 4294967297
expect 2 "--repeat" "${small[@]}" --repeat 0
expect 2 "--batch: 0" "${small[@]}" --batch 0
expect 2 "--heads: 0" "${small[@]}" --heads 0
expect 2 "--heads" "${small[@]}" --heads 99999999999999999999
expect 2 "--batch" "${small[@]}" --batch 4x
expect 2 "--batch" "${small[@]}" --batch ""
expect 2 "--batch" "${small[@]}" --batch " 3"
expect 2 "--fft-size" "${small[@]}" --fft-size 100
expect 2 "--fft-size" "${small[@]}" --fft-size 8388608
expect 2 "--check-rows" "${small[@]}" --check-rows -1
expect 2 "--seed" "${small[@]}" --seed -1
expect 2 "--repeat needs a value" "${small[@]}" --repeat

# Problems too large: refused before anything is allocated, naming the size (no std::bad_alloc).
expect 2 "--batch 10000000000" "${small[@]}" --batch 10000000000
grep -q "GiB of host memory" "$work/err" || fail "--batch 10000000000: no size in GiB in the message"
expect 2 "--batch 9223372036854775807" "${small[@]}" --batch 9223372036854775807

# Inputs whose exact output exceeds f16's range: an input-range problem (exit 3), not an accuracy FAIL.
expect 3 "inputs overflow f16 (--dtype f16)" run --backend cpu --dtype f16 --input dynamic_range --gated \
  --fft-size 16384 --batch 1 --heads 1 --repeat 1 --json
grep -q "FAIL" "$work/out" && fail "f16 overflow reported as an accuracy FAIL"
grep -q '"rel_err": null, "check": "input_overflow"' "$work/out" || fail "f16 overflow: JSON $(tail -n 1 "$work/out")"

# A small good run: exit 0, JSON with null for what was not measured and no sentinel or inf.
expect 0 "" "${small[@]}" --json
json=$(tail -n 1 "$work/out")
[[ $json == "{"*"}" ]] || fail "good run: last line is not JSON: $json"
grep -qE -- '-1000|: -1[,}]|inf|nan' <<< "$json" && fail "good run: JSON has a sentinel or non-number: $json"
grep -q '"fftw_ms": null' <<< "$json" || fail "good run: fftw_ms is not null without --compare-fftw: $json"
grep -q '"check": "pass"' <<< "$json" || fail "good run: check is not pass: $json"
expect 0 "" "${small[@]}" --json --no-check --compare-fftw
grep -q '"rel_err": null' "$work/out" || fail "--no-check: rel_err is not null: $(tail -n 1 "$work/out")"
if command -v python3 > /dev/null; then
  tail -n 1 "$work/out" | python3 -c 'import json, sys; json.loads(sys.stdin.read())' ||
    fail "--no-check --compare-fftw: the JSON line does not parse"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
