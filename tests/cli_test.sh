#!/usr/bin/env bash
# The hark command end to end: convert --random, info, transcribe the bundled sample, and bad
# input (missing, corrupt and wrong-format model files; empty, garbage and NaN audio; bad
# options) — each must exit non-zero with a message naming the problem, never crash.
set -u
HARK=${1:-./build/hark}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_fail NAME PATTERN CMD...: exit code 1 or 2 (not a signal), stderr matches PATTERN
expect_fail() {
  local name=$1 pat=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; cat "$T/err" >&2; return; fi
  if ! grep -qiE "$pat" "$T/err"; then bad "$name: stderr lacks /$pat/:"; cat "$T/err" >&2; return; fi
  ok
}

M=$T/nano.hark
if "$HARK" convert --random tiny-test --seed 3 "$M" 2>"$T/err"; then ok; else bad "convert --random"; cat "$T/err" >&2; fi
if "$HARK" info "$M" | grep -q "random weights"; then ok; else bad "info"; fi
out=$("$HARK" transcribe -m "$M" --max-tokens 8 samples/jfk.wav 2>"$T/err"); rc=$?
if [ $rc -eq 0 ] && grep -q "random weights" "$T/err"; then ok; else bad "transcribe sample rc=$rc"; cat "$T/err" >&2; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 - < samples/jfk.wav >/dev/null 2>&1; then ok; else bad "stdin"; fi
if "$HARK" bench -m "$M" --tokens 3 --repeat 1 --threads 2 | grep -q '"rtfx"'; then ok; else bad "bench json"; fi

# bad model files
expect_fail "missing model" "no such file|cannot open" "$HARK" transcribe -m "$T/nope.hark" samples/jfk.wav
head -c 1000 "$M" > "$T/trunc.hark"
expect_fail "truncated model" "trunc|short|exceeds|beyond|size" "$HARK" transcribe -m "$T/trunc.hark" samples/jfk.wav
: > "$T/empty.hark"
expect_fail "empty model" "empty|trunc|short|too small" "$HARK" info "$T/empty.hark"
expect_fail "wav as model" "safetensors|header|format|not a" "$HARK" info samples/jfk.wav
expect_fail "directory as model" "directory" "$HARK" info "$T"
expect_fail "convert unknown" "unknown|unsupported|not a|format|recogn" "$HARK" convert samples/jfk.wav "$T/x.hark"
expect_fail "random unknown arch" "unknown|architecture" "$HARK" convert --random huge-v9 "$T/x.hark"

# bad audio
: > "$T/empty.wav"
expect_fail "empty audio" "empty|no audio|no samples|contains no" "$HARK" transcribe -m "$M" "$T/empty.wav"
head -c 4000 /dev/urandom > "$T/garbage.bin"
expect_fail "garbage audio" "audio|decode|format|recogn|invalid" "$HARK" transcribe -m "$M" "$T/garbage.bin"
head -c 30 samples/jfk.wav > "$T/trunc.wav"
expect_fail "truncated wav" "wav|trunc|short|audio|chunk" "$HARK" transcribe -m "$M" "$T/trunc.wav"
python3 - "$T/nan.wav" <<'PY'
import struct, sys
n = 1600
data = struct.pack('<%df' % n, *([0.1] * 100 + [float('nan')] + [0.0] * (n - 101)))
hdr = b'RIFF' + struct.pack('<I', 36 + len(data)) + b'WAVEfmt ' + struct.pack('<IHHIIHH', 16, 3, 1, 16000, 64000, 4, 32)
open(sys.argv[1], 'wb').write(hdr + b'data' + struct.pack('<I', len(data)) + data)
PY
expect_fail "NaN audio" "nan|finite" "$HARK" transcribe -m "$M" "$T/nan.wav"
expect_fail "missing audio" "no such file|cannot open" "$HARK" transcribe -m "$M" "$T/none.wav"

# bad usage
expect_fail "no args" "usage" "$HARK"
expect_fail "unknown command" "unknown command" "$HARK" frobnicate
expect_fail "unknown option" "unknown" "$HARK" transcribe --bogus

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
