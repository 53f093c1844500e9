#!/usr/bin/env bash
# `hark client` end to end against `hark serve` on a small random model: health, asr (plain and
# streaming) and a bench sweep over KServe v2 HTTP, KServe v2 gRPC and the OpenAI API; its JSON
# lines checked; and bad input: an unreachable server, an unknown model, a missing file, bad
# options, a server that goes away in the middle of a bench (partial results kept, exit 1).
set -u
HARK=${1:-./build/hark}
case $HARK in /*) ;; *) HARK=$PWD/$HARK ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
JFK=$SRC/samples/jfk.wav
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" = 0 ]; then ok; else bad "$1: $3"; fi
}

if ! "$HARK" --help 2>&1 | grep -q "client health"; then
  echo "hark was built without the client (libcurl missing): skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
if ! "$HARK" --help 2>&1 | grep -q "serve -m"; then
  echo "hark was built without the server: skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
HAVE_GRPC=1
"$HARK" client health --url 127.0.0.1:9 --protocol grpc 2>&1 | grep -q "without gRPC" && HAVE_GRPC=0
M=$T/nano.hark
"$HARK" convert --random tiny-test --seed 5 "$M" >/dev/null 2>&1 || { echo "convert failed"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port); MP=$(free_port); GP=$(free_port)
U=http://127.0.0.1:$P
G=127.0.0.1:$GP
[ $HAVE_GRPC = 1 ] || GP=0
"$HARK" serve -m "$M" --host 127.0.0.1 --http-port "$P" --metrics-port "$MP" --grpc-port "$GP" \
  --threads 2 --beam-size 1 --temperature-increment 0 --max-tokens 12 --access-log false 2>"$T/log" &
PID=$!
for _ in $(seq 100); do curl -sf "$U/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done

PROTOS="http openai"
[ $HAVE_GRPC = 1 ] && PROTOS="http grpc openai"
url_of() { [ "$1" = grpc ] && echo "$G" || echo "$U"; }

# ---- health, asr, streaming asr over each protocol
for p in $PROTOS; do
  "$HARK" client health --url "$(url_of $p)" --protocol $p >"$T/out" 2>&1
  check "health $p" $? "$(cat "$T/out")"
  grep -q "ready" "$T/out"; check "health $p says ready" $? "$(cat "$T/out")"
  "$HARK" client asr --url "$(url_of $p)" --protocol $p "$JFK" >"$T/asr_$p" 2>"$T/err"
  check "asr $p" $? "$(cat "$T/err")"
  [ "$(cut -f1 "$T/asr_$p")" = "$JFK" ] && [ -n "$(cut -f2 "$T/asr_$p")" ]
  check "asr $p prints FILE<TAB>text" $? "$(cat "$T/asr_$p")"
done
# the same KServe request over HTTP and gRPC: the same transcript, and the server's own
if [ $HAVE_GRPC = 1 ]; then
  cmp -s "$T/asr_http" "$T/asr_grpc"; check "http and grpc agree" $? "$(cat "$T/asr_http" "$T/asr_grpc")"
  "$HARK" client asr --url "$G" --protocol grpc --streaming "$JFK" >"$T/sout" 2>"$T/serr"
  check "grpc streaming" $? "$(cat "$T/serr")"
  cmp -s "$T/sout" "$T/asr_grpc"; check "streaming final = unary" $? "$(cat "$T/sout")"
fi
"$HARK" client asr --url "$U" --protocol openai --streaming "$JFK" >"$T/sout" 2>"$T/serr"
check "openai streaming" $? "$(cat "$T/serr")"
grep -q '^\.\.\. ' "$T/serr"; check "openai streaming partials on stderr" $? "$(cat "$T/serr")"
# --language / --task build the prefix
"$HARK" client asr --url "$U" --language en --task translate "$JFK" >"$T/out" 2>&1
check "asr --task translate" $? "$(cat "$T/out")"

# ---- bench: a small sweep per protocol, JSON lines checked
for p in $PROTOS; do
  bs=1,2; [ $p = openai ] && bs=1
  "$HARK" client bench --url "$(url_of $p)" --protocol $p --concurrency 1,3 --batch-size $bs \
    --requests 4 --warmup 1 --tile 30 --json "$T/b_$p.jsonl" "$JFK" >"$T/out" 2>&1
  check "bench $p" $? "$(cat "$T/out")"
  grep -q "p99(s)" "$T/out"; check "bench $p table" $? "$(cat "$T/out")"
  python3 - "$T/b_$p.jsonl" "$p" "$bs" <<'EOF' >"$T/v" 2>&1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
want = len(sys.argv[3].split(',')) * 2
assert len(rows) == want, f'{len(rows)} lines, want {want}'
for r in rows:
    assert r['protocol'] == sys.argv[2] and r['ok'] == 4 and r['errors'] == 0, r
    assert abs(r['audio_s_per_s'] - 30.0 * r['batch_size'] * r['ok'] / r['wall_s']) < 0.05 * r['audio_s_per_s'] + 0.1, r
    assert 0 < r['p50_s'] <= r['p90_s'] <= r['p95_s'] <= r['p99_s'], r
    assert r['req_per_s'] > 0 and r['lat_mean_s'] > 0, r
print('ok')
EOF
  check "bench $p JSON" $? "$(cat "$T/v")"
done

# ---- the chart: valid SVG, a line per batch size, rendered by headless Chromium
"$HARK" client bench --url "$U" --concurrency 1,2 --batch-size 1,2 --requests 4 --warmup 0 \
  --tile 30 --svg "$T/chart.svg" "$JFK" >"$T/out" 2>&1
check "bench --svg" $? "$(cat "$T/out")"
python3 - "$T/chart.svg" <<'EOF2' >"$T/v" 2>&1
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
lines = root.findall(ns + 'polyline')
texts = [t.text for t in root.iter(ns + 'text')]
assert len(lines) == 2, len(lines)
assert all(len(l.get('points').split()) == 2 for l in lines), [l.get('points') for l in lines]
assert 'batch size 1' in texts and 'batch size 2' in texts and 'p99 latency (s)' in texts, texts
print('ok')
EOF2
check "chart SVG" $? "$(cat "$T/v")"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ]; then
  timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=760,480 --screenshot="$T/chart.png" "file://$T/chart.svg" >"$T/cout" 2>&1
  python3 - "$T/chart.png" <<'EOF2' >"$T/v" 2>&1
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h = struct.unpack('>II', data[16:24])
assert (w, h) == (760, 480), (w, h)
# the IDAT pixels: more than a blank page's colours
idat, i = b'', 8
while i < len(data):
    n, kind = struct.unpack('>I4s', data[i:i + 8])
    if kind == b'IDAT':
        idat += data[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(idat)
assert len(set(raw)) > 20, 'a blank picture'
print('ok')
EOF2
  check "chart rendered by Chromium" $? "$(cat "$T/v" "$T/cout" | tail -5)"
else
  echo "no Chromium: the chart is not rendered"
fi

# ---- on a terminal, a progress line while a cell runs (script(1) gives the bench a tty)
if command -v script >/dev/null 2>&1; then
  script -qec "'$HARK' client bench --url $U --concurrency 1 --batch-size 1 --requests 6 \
    --warmup 0 --tile 30 '$JFK'" /dev/null >"$T/tty" 2>&1
  grep -q "concurrency 1, batch 1 \[" "$T/tty"; check "progress line on a terminal" $? "$(tail -c 300 "$T/tty")"
fi

# ---- a dataset with references: each cell's WER next to its speed
mkdir -p "$T/set/wav"; cp "$JFK" "$T/set/wav/a.wav"; cp "$JFK" "$T/set/wav/b.wav"
printf 'a wav/a.wav\nb wav/b.wav\n' >"$T/set/wav.scp"
printf 'a And so my fellow Americans\nb ask not what your country can do for you\n' >"$T/set/text"
"$HARK" client bench --url "$U" --concurrency 2 --batch-size 1,2 --requests 4 --warmup 0 \
  --dataset "$T/set" --references --json "$T/ds.jsonl" >"$T/out" 2>&1
check "bench --dataset --references" $? "$(cat "$T/out")"
grep -q "WER" "$T/out" && python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and all(r['scored'] == 2 and 0 <= r['wer'] for r in rows), rows
" "$T/ds.jsonl" 2>"$T/v"
check "bench WER per cell" $? "$(cat "$T/v" "$T/out")"
"$HARK" client bench --url "$U" --references "$JFK" >"$T/out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "needs --dataset" "$T/out"; check "--references without a dataset" $? "rc $rc $(cat "$T/out")"
printf 'c wav/missing.wav\n' >>"$T/set/wav.scp"
"$HARK" client bench --url "$U" --concurrency 1 --batch-size 1 --requests 2 --warmup 0 \
  --dataset "$T/set" --json "$T/ds2.jsonl" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "no such audio file" "$T/out" && grep -q '"ok":2' "$T/ds2.jsonl"
check "a dataset with a bad line: results kept, exit 1" $? "rc $rc $(cat "$T/out")"

# ---- bad input: clear messages, non-zero exit
DEAD=http://127.0.0.1:$(free_port)
"$HARK" client health --url "$DEAD" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "not ready" "$T/out"; check "unreachable: health" $? "rc $rc $(cat "$T/out")"
"$HARK" client bench --url "$DEAD" --concurrency 2 --batch-size 1 --requests 3 --warmup 0 \
  --json "$T/dead.jsonl" "$JFK" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q '"errors":3' "$T/dead.jsonl" && grep -qi "connect" "$T/out"
check "unreachable: bench keeps its results, exit 1" $? "rc $rc $(cat "$T/out" "$T/dead.jsonl")"
"$HARK" client asr --url "$U" --model nosuch "$JFK" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "404" "$T/out"; check "unknown model (http)" $? "rc $rc $(cat "$T/out")"
if [ $HAVE_GRPC = 1 ]; then
  "$HARK" client asr --url "$G" --protocol grpc --model nosuch "$JFK" >"$T/out" 2>&1; rc=$?
  [ $rc = 1 ] && grep -qi "nosuch\|not found\|NOT_FOUND\|5" "$T/out"; check "unknown model (grpc)" $? "rc $rc $(cat "$T/out")"
fi
"$HARK" client asr --url "$U" "$T/missing.wav" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "missing.wav" "$T/out"; check "missing file" $? "rc $rc $(cat "$T/out")"
"$HARK" client bench --url "$U" --protocol carrier-pigeon "$JFK" >"$T/out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "protocol" "$T/out"; check "bad protocol" $? "rc $rc $(cat "$T/out")"
"$HARK" client bench --url "$U" --concurrency 0 "$JFK" >"$T/out" 2>&1; rc=$?
[ $rc = 2 ]; check "bad concurrency" $? "rc $rc $(cat "$T/out")"
"$HARK" client frobnicate >"$T/out" 2>&1; rc=$?
[ $rc = 2 ]; check "unknown verb" $? "rc $rc $(cat "$T/out")"
"$HARK" client asr --url "$U" --protocol openai --text-prefix "<|startoftranscript|><|en|><|transcribe|>" \
  "$JFK" >"$T/out" 2>&1
check "openai with a text prefix" $? "$(cat "$T/out")"

# ---- the server goes away in the middle of a bench: the cells so far are kept, exit 1
"$HARK" client bench --url "$U" --concurrency 2 --batch-size 1 --requests 400 --warmup 0 --timeout 5 \
  --json "$T/mid.jsonl" "$JFK" >"$T/out" 2>&1 &
BP=$!
sleep 1.5
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
wait $BP; rc=$?
[ $rc = 1 ] && python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]['errors'] > 0 and r[0]['ok'] + r[0]['errors'] == 400, r
" "$T/mid.jsonl" 2>"$T/v"
check "server gone mid-bench" $? "rc $rc $(cat "$T/out" "$T/v" "$T/mid.jsonl")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
