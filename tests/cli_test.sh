#!/usr/bin/env bash
# The hark command end to end: convert --random, info, quantize, compare, transcribe the bundled sample (every
# output format, several files, stdin, the decoding options), and bad input (missing, corrupt
# and wrong-format model files; empty, garbage and NaN audio; bad options) — each must exit
# non-zero with a message naming the problem, never crash. Runs inside a temporary folder, so
# that transcribe's default --output-dir "." writes nothing into the source tree.
set -u
HARK=${1:-./build/hark}
case $HARK in /*) ;; *) HARK=$PWD/$HARK ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
JFK=$SRC/samples/jfk.wav
# OpenMP threads that spin while waiting slow every command by 10-50x when other jobs share the
# cores (as under a parallel ctest); sleeping waits keep this test's time steady.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
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
out=$("$HARK" transcribe -m "$M" --max-tokens 8 "$JFK" 2>"$T/err"); rc=$?
if [ $rc -eq 0 ] && grep -q "random weights" "$T/err"; then ok; else bad "transcribe sample rc=$rc"; cat "$T/err" >&2; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 - < "$JFK" >/dev/null 2>&1; then ok; else bad "stdin"; fi
if (cd "$SRC" && "$HARK" bench -m "$M" --tokens 3 --repeat 1 --threads 2) | grep -q '"rtfx"'; then ok; else bad "bench json"; fi
# --fp8-encoder is a GPU setting: the CPU accepts it and runs its own types (docs/quant.md)
if (cd "$SRC" && "$HARK" bench -m "$M" --tokens 2 --repeat 1 --threads 2 --fp8-encoder) | grep -q '"encoder_fp8":1'; then ok; else bad "bench --fp8-encoder json"; fi
# the two step loops give the same figures' shape and name themselves in the JSON line
for l in greedy argmax; do
  if (cd "$SRC" && "$HARK" bench -m "$M" --tokens 3 --repeat 1 --threads 2 --step-loop $l) | grep -q "\"step_loop\":\"$l\""; then ok; else bad "bench --step-loop $l"; fi
done
if "$HARK" transcribe -m "$M" --max-tokens 4 --fp8-encoder -f txt -o "$T/f8" "$JFK" >/dev/null 2>"$T/err"; then ok; else bad "transcribe --fp8-encoder on the CPU"; cat "$T/err" >&2; fi
# forward: logits of a teacher-forced pass; --fp8-encoder changes nothing on the CPU
if "$HARK" forward -m "$M" --audio "$JFK" --tokens 1,2 --out "$T/fw0" --threads 2 &&
   "$HARK" forward -m "$M" --audio "$JFK" --tokens 1,2 --out "$T/fw1" --threads 2 --fp8-encoder &&
   [ -s "$T/fw0" ] && cmp -s "$T/fw0" "$T/fw1"; then ok; else bad "forward --fp8-encoder on the CPU"; fi

# transcribe: outputs, options, several files
O=$T/all
if "$HARK" transcribe -m "$M" --max-tokens 8 --output-format all --output-dir "$O" "$JFK" >"$T/stdout" 2>"$T/err"; then ok; else bad "transcribe all formats"; cat "$T/err" >&2; fi
for ext in txt srt vtt tsv json verbose.json; do
  if [ -s "$O/jfk.$ext" ] || { [ "$ext" = txt ] && [ -f "$O/jfk.txt" ]; }; then ok; else bad "output jfk.$ext missing"; fi
done
if grep -qE '^\[[0-9:.]+ --> [0-9:.]+\] ' "$T/stdout"; then ok; else bad "verbose segment lines"; cat "$T/stdout" >&2; fi
if command -v ffmpeg >/dev/null 2>&1; then
  if ffmpeg -v error -i "$O/jfk.srt" -f srt - >/dev/null 2>"$T/ff"; then ok; else bad "ffmpeg rejects the srt"; cat "$T/ff" >&2; fi
  if ffmpeg -v error -i "$O/jfk.vtt" -f webvtt - >/dev/null 2>"$T/ff"; then ok; else bad "ffmpeg rejects the vtt"; cat "$T/ff" >&2; fi
fi
for j in json verbose.json; do
  if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$O/jfk.$j"; then ok; else bad "jfk.$j is not JSON"; fi
done
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["task"]=="transcribe" and abs(d["duration"]-11.0)<0.01 and isinstance(d["segments"],list)' "$O/jfk.verbose.json"; then ok; else bad "verbose_json fields"; fi
"$HARK" transcribe -m "$M" --max-tokens 4 --language auto --verbose false -f txt -o "$T/auto" "$JFK" >"$T/stdout" 2>"$T/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "Detected language: [A-Z]" "$T/err"; then ok; else bad "--language auto rc=$rc"; cat "$T/err" >&2; fi
if [ ! -s "$T/stdout" ]; then ok; else bad "--verbose false printed segments"; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 --language de --task translate -f json -o "$T/tr" "$JFK" >/dev/null 2>"$T/err" &&
   python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/tr/jfk.json"; then ok; else bad "--task translate"; cat "$T/err" >&2; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 --language en --initial-prompt "Ask not" \
     --carry-initial-prompt true -f txt -o "$T/cp" "$JFK" >/dev/null 2>"$T/err" && [ -s "$T/cp/jfk.txt" ] ||
   [ -e "$T/cp/jfk.txt" ]; then ok; else bad "--carry-initial-prompt"; cat "$T/err" >&2; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 --language English --beam-size 2 -f srt -o "$T/beam" "$JFK" >/dev/null 2>"$T/err" && [ -f "$T/beam/jfk.srt" ]; then ok; else bad "--beam-size 2"; cat "$T/err" >&2; fi
if "$HARK" transcribe -m "$M" --max-tokens 4 --temperature 0.5 --best-of 2 --seed 7 -f tsv -o "$T/temp" "$JFK" >/dev/null 2>"$T/err" && [ -f "$T/temp/jfk.tsv" ]; then ok; else bad "--temperature 0.5"; cat "$T/err" >&2; fi
cp "$JFK" "$T/second.take.wav"
if "$HARK" transcribe -m "$M" --max-tokens 4 -f txt -o "$T/two" "$JFK" "$T/second.take.wav" >/dev/null 2>"$T/err" &&
   [ -f "$T/two/jfk.txt" ] && [ -f "$T/two/second.take.txt" ]; then ok; else bad "two files"; cat "$T/err" >&2; ls "$T/two" >&2; fi
"$HARK" transcribe -m "$M" --max-tokens 4 -f txt -o "$T/miss" "$T/none.wav" "$JFK" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "none.wav" "$T/err" && [ -f "$T/miss/jfk.txt" ]; then ok; else bad "missing file among two rc=$rc"; cat "$T/err" >&2; fi
rm -f "$T"/stdin.*
if "$HARK" transcribe -m "$M" --max-tokens 4 --verbose false - < "$JFK" >/dev/null 2>&1 && [ -f "$T/stdin.txt" ] && [ -f "$T/stdin.srt" ]; then ok; else bad "stdin outputs in ."; fi
# word timestamps: words in the JSON, word-level subtitles that ffmpeg reads
"$HARK" transcribe -m "$M" --max-tokens 12 --language en --beam-size 1 --word_timestamps True --highlight_words True --output_format all -o "$T/wt" "$JFK" >/dev/null 2>"$T/err"; rc=$?
if [ $rc -eq 0 ] && grep -q '"words"' "$T/wt/jfk.verbose.json" && grep -q '"probability"' "$T/wt/jfk.verbose.json" && [ -f "$T/wt/jfk.vtt" ]; then ok; else bad "--word_timestamps rc=$rc"; cat "$T/err" >&2; fi
if command -v ffmpeg >/dev/null 2>&1; then
  if ffmpeg -v error -i "$T/wt/jfk.srt" -f srt - >/dev/null 2>"$T/ff"; then ok; else bad "ffmpeg rejects the word srt"; cat "$T/ff" >&2; fi
fi
if "$HARK" transcribe -m "$M" --max-tokens 12 --language en --beam-size 1 --word-timestamps true --max-line-width 20 --max-line-count 2 --hallucination-silence-threshold 2 --clip-timestamps 1,5,7 --prefix "And so" -f srt -o "$T/wt2" "$JFK" >/dev/null 2>"$T/err" && [ -f "$T/wt2/jfk.srt" ]; then ok; else bad "word options"; cat "$T/err" >&2; fi
expect_usage_early() { "$@" >"$T/out" 2>"$T/err"; local rc=$?; if [ $rc -eq 2 ]; then ok; else bad "$*: exit $rc (want 2)"; cat "$T/err" >&2; fi; }
expect_usage_early "$HARK" transcribe -m "$M" --clip-timestamps 1,x "$JFK"
expect_usage_early "$HARK" transcribe -m "$M" --clip-timestamps 1, "$JFK"
expect_usage_early "$HARK" transcribe -m "$M" --clip-timestamps 0x10 "$JFK"
expect_usage_early "$HARK" transcribe -m "$M" --hallucination-silence-threshold 2 "$JFK"

# expect_usage NAME CMD...: a usage error, exit code 2
expect_usage() {
  local name=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ $rc -eq 2 ] && grep -qi "usage" "$T/err"; then ok; else bad "$name: exit $rc (want 2)"; cat "$T/err" >&2; fi
}
expect_usage "bad task" "$HARK" transcribe -m "$M" --task summarize "$JFK"
expect_usage "forward: unknown option" "$HARK" forward -m "$M" --audio "$JFK" --tokens 1 --out "$T/fw" --bogus 1
expect_usage "forward: option without its value" "$HARK" forward -m "$M" --audio "$JFK" --tokens 1 --out
expect_fail "serve --fp8-encoder maybe" "fp8-encoder maybe: true or false" "$HARK" serve -m "$M" --fp8-encoder maybe
expect_usage "bad format" "$HARK" transcribe -m "$M" --output-format docx "$JFK"
expect_usage "bad temperature" "$HARK" transcribe -m "$M" --temperature warm "$JFK"
expect_usage "bad beam size" "$HARK" transcribe -m "$M" --beam-size -3 "$JFK"
expect_usage "bad language" "$HARK" transcribe -m "$M" --language klingon "$JFK"
expect_usage "bad bool" "$HARK" transcribe -m "$M" --verbose maybe "$JFK"
expect_usage "line width needs words" "$HARK" transcribe -m "$M" --max-line-width 40 "$JFK"
expect_usage "missing value" "$HARK" transcribe -m "$M" "$JFK" --best-of
expect_usage "no files" "$HARK" transcribe -m "$M"
if "$HARK" --help | grep -q "download NAME"; then # an official name, not cached, no network
  HARK_CACHE_DIR=$T/cache HARK_MODEL_BASE_URL=http://127.0.0.1:9 \
    expect_fail "model name offline" "tiny.en.*(connect|offline)" "$HARK" transcribe -m tiny.en "$JFK"
fi

# bad model files
expect_fail "missing model" "no such file|cannot open" "$HARK" transcribe -m "$T/nope.hark" "$JFK"
head -c 1000 "$M" > "$T/trunc.hark"
expect_fail "truncated model" "trunc|short|exceeds|beyond|size" "$HARK" transcribe -m "$T/trunc.hark" "$JFK"
: > "$T/empty.hark"
expect_fail "empty model" "empty|trunc|short|too small" "$HARK" info "$T/empty.hark"
expect_fail "wav as model" "safetensors|header|format|not a" "$HARK" info "$JFK"
expect_fail "directory as model" "directory" "$HARK" info "$T"
expect_fail "convert unknown" "unknown|unsupported|not a|format|recogn" "$HARK" convert "$JFK" "$T/x.hark"
expect_fail "random unknown arch" "unknown|architecture" "$HARK" convert --random huge-v9 "$T/x.hark"

# quantization: hark quantize / convert --type, info, transcribe and compare (docs/quant.md)
Q8=$T/q8.hark Q4=$T/q4.hark
if "$HARK" quantize --type int8 "$M" "$Q8" 2>"$T/err" && "$HARK" info "$Q8" | grep -q "int8"; then ok; else bad "quantize int8"; cat "$T/err" >&2; fi
if "$HARK" convert --random tiny-test --seed 3 --type int4 --group 32 "$Q4" 2>"$T/err" &&
   "$HARK" info "$Q4" | grep -q "int4 linear weights, a scale per 32 inputs"; then ok; else bad "convert --type int4"; cat "$T/err" >&2; fi
if [ "$(stat -c %s "$Q4")" -lt "$(stat -c %s "$Q8")" ] && [ "$(stat -c %s "$Q8")" -lt "$(stat -c %s "$M")" ]; then ok; else bad "quantized sizes"; fi
if "$HARK" transcribe -m "$Q4" --max-tokens 4 "$JFK" >/dev/null 2>&1; then ok; else bad "transcribe int4"; fi
out=$("$HARK" compare --json --steps 20 --threads 2 -m "$M" -m "$Q8" "$JFK" 2>"$T/err")
if echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["steps"]==20 and d["top1_agree"]>=19 and d["rel_err_mean"]<0.02' 2>/dev/null; then ok; else bad "compare int8: $out"; cat "$T/err" >&2; fi
"$HARK" convert --random tiny-test --seed 4 "$T/other.hark" 2>/dev/null
expect_fail "compare below --min-agreement" "below" "$HARK" compare --steps 10 --threads 2 --min-agreement 50 -m "$M" -m "$T/other.hark" "$JFK"
expect_usage "compare bad --min-agreement" "$HARK" compare --min-agreement 101 -m "$M" -m "$Q8" "$JFK"
expect_usage "compare bad --test-cross-kv" "$HARK" compare --test-cross-kv 3 -m "$M" -m "$Q8" "$JFK"
expect_usage "bench bad --cross-kv" "$HARK" bench -m "$M" --cross-kv 2
expect_usage "bench bad --step-loop" "$HARK" bench -m "$M" --step-loop host
expect_usage "quantize without --type" "$HARK" quantize "$M" "$T/x.hark"
expect_usage "quantize f16" "$HARK" quantize --type f16 "$M" "$T/x.hark"
expect_usage "quantize group 48" "$HARK" quantize --type int4 --group 48 "$M" "$T/x.hark"
expect_usage "compare one model" "$HARK" compare -m "$M" "$JFK"
expect_usage "compare three models" "$HARK" compare -m "$M" -m "$M" -m "$Q8" "$JFK"
"$HARK" convert --random nano-test "$T/nano8.hark" 2>/dev/null
expect_fail "compare different architectures" "different architectures" "$HARK" compare --steps 2 -m "$M" -m "$T/nano8.hark" "$JFK"
expect_fail "quantize missing input" "cannot open|no such" "$HARK" quantize --type int8 "$T/none.hark" "$T/x.hark"

# bad audio
: > "$T/empty.wav"
expect_fail "empty audio" "empty|no audio|no samples|contains no" "$HARK" transcribe -m "$M" "$T/empty.wav"
head -c 4000 /dev/urandom > "$T/garbage.bin"
expect_fail "garbage audio" "audio|decode|format|recogn|invalid" "$HARK" transcribe -m "$M" "$T/garbage.bin"
head -c 30 "$JFK" > "$T/trunc.wav"
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
