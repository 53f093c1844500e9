#!/usr/bin/env bash
# `hark serve` end to end with clients we did not write (curl; the official OpenAI Node SDK;
# @grpc/grpc-js with the official KServe gRPC schema; Python's urllib for the KServe
# tensors, as the seed's Triton clients send them: WAV [B, N] FP32 padded, WAV_LENS [B, 1] INT32,
# TEXT_PREFIX [B, 1] BYTES, in JSON and in the binary tensor extension): health and metadata,
# infer, the OpenAI endpoints in every response format, /metrics; bad input (malformed JSON,
# wrong datatypes and shapes, missing tensors, truncated binary data, undecodable audio,
# oversized bodies, unknown models and paths, a body trickling in, a client that disconnects)
# each with its status while the server keeps serving; and SIGTERM during requests: every
# admitted request answered, exit 0.
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

if ! "$HARK" --help 2>&1 | grep -q "serve -m"; then
  echo "hark was built without the server (libmicrohttpd missing): skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
M=$T/nano.hark
"$HARK" convert --random tiny-test --seed 5 "$M" >/dev/null 2>&1 || { echo "convert failed"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port); MP=$(free_port); GP=$(free_port)
U=http://127.0.0.1:$P
start() {
  "$HARK" serve -m "$M" --host 127.0.0.1 --http-port "$P" --metrics-port "$MP" --grpc-port "$GP" --threads 2 \
    --beam-size 1 --temperature-increment 0 --max-tokens 12 --max-request-mb 24 \
    --connection-timeout 3 "$@" 2>"$T/log" &
  PID=$!
  for _ in $(seq 100); do curl -sf "$U/v2/health/live" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "the server did not start:"; cat "$T/log"; exit 1
}
# code METHOD PATH [curl args...]: prints the HTTP status
code() { local m=$1 p=$2; shift 2; curl -s -o "$T/body" -w '%{http_code}' -X "$m" "$U$p" "$@"; }
# tally NAME MIN FILE: one check per "ok ..." / "FAIL ..." line of a client's output (at least MIN)
tally() {
  local n=0 line
  while read -r line; do
    n=$((n + 1))
    case $line in ok*) ok ;; *) bad "$1: $line" ;; esac
  done <"$3"
  [ "$n" -ge "$2" ] || bad "$1: $n results: $(tail -5 "$3")"
}
expect() { # expect NAME WANT GOT [body pattern]
  if [ "$3" != "$2" ]; then bad "$1: status $3, want $2: $(head -c 300 "$T/body")"; return; fi
  if [ $# -ge 4 ] && ! grep -qE "$4" "$T/body"; then bad "$1: body lacks /$4/: $(head -c 300 "$T/body")"; return; fi
  ok
}

# ---- a config file (the command line wins), and a bad one
printf '{"http_port": %s, "grpc-port": 0, "metrics_port": 0, "max-tokens": 4, "access-log": false}\n' "$(free_port)" >"$T/cfg.json"
CP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_port"])' "$T/cfg.json")
"$HARK" serve -m "$M" --host 127.0.0.1 --config "$T/cfg.json" --threads 1 2>"$T/cfglog" &
CPID=$!
up=0
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$CP/v2/health/ready" >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
if [ $up = 1 ] && ! grep -q '"status"' "$T/cfglog"; then ok; else bad "config file: $(cat "$T/cfglog")"; fi
kill -TERM $CPID; wait $CPID && ok || bad "config server exit"
echo '{"http_port": [1]}' >"$T/bad.json"
"$HARK" serve -m "$M" --config "$T/bad.json" 2>"$T/err"; rc=$?
if [ $rc = 2 ] && grep -q "http_port" "$T/err"; then ok; else bad "bad config: rc $rc $(cat "$T/err")"; fi

# ---- two engine instances (--instance-count 2 on the CPU): requests spread over both
IP=$(free_port); IMP=$(free_port)
"$HARK" serve -m "$M" --host 127.0.0.1 --http-port "$IP" --metrics-port "$IMP" --grpc-port 0 \
  --instance-count 2 --device cpu --threads 1 --beam-size 1 --temperature-increment 0 --max-tokens 6 \
  --max-batch-size 2 --access-log false --warmup true 2>"$T/ilog" &
IPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$IP/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
for i in 1 2 3 4 5 6; do
  curl -s -o "$T/inst$i" -w '%{http_code}' "http://127.0.0.1:$IP/v1/audio/transcriptions" -F file=@"$JFK" -F response_format=text >"$T/inst$i.code" &
done
wait $(jobs -p | grep -v "^$IPID$") 2>/dev/null
sleep 0.5
same=1
for i in 1 2 3 4 5 6; do
  [ "$(cat "$T/inst$i.code")" = 200 ] && cmp -s "$T/inst1" "$T/inst$i" || same=0
done
if [ $same = 1 ]; then ok; else
  bad "instances: answers differ or failed (code, answer): $(for i in 1 2 3 4 5 6; do printf '[%s %q] ' "$(cat "$T/inst$i.code")" "$(head -c 120 "$T/inst$i")"; done)"
  grep -v '^hark serve: \(engine\|n\.hark\|metrics\)' "$T/ilog" | head -20 >&2
fi
if curl -s "http://127.0.0.1:$IMP/metrics" | grep -q 'instance="1"'; then ok; else bad "instances: no second engine in /metrics"; fi
kill -TERM $IPID; wait $IPID && ok || bad "instances: exit"
"$HARK" serve -m "$M" --instance-count 2 2>"$T/err"; rc=$?
if [ $rc = 2 ] && grep -q "instance-count" "$T/err"; then ok; else bad "instances without --device: rc $rc"; fi

start
# ---- KServe v2 health and metadata
expect live 200 "$(code GET /v2/health/live)"
expect ready 200 "$(code GET /v2/health/ready)"
expect server-metadata 200 "$(code GET /v2)" '"extensions"'
for m in whisper whisper_bls infer_bls; do
  expect "metadata $m" 200 "$(code GET /v2/models/$m)" '"TRANSCRIPTS"'
  expect "ready $m" 200 "$(code GET /v2/models/$m/ready)"
done
expect version 200 "$(code GET /v2/models/whisper/versions/1)" '"WAV_LENS"'
expect config 200 "$(code GET /v2/models/whisper/config)" '"max_batch_size"'
expect stats 200 "$(code GET /v2/models/whisper/stats)" '"model_stats"'
expect unknown-model 404 "$(code GET /v2/models/nope)" 'unknown model'
expect unknown-version 404 "$(code GET /v2/models/whisper/versions/7)"
expect unknown-path 404 "$(code GET /v3/x)"
expect wrong-method 405 "$(code GET /v2/models/whisper/infer)"

# ---- KServe infer: the seed's requests, JSON and binary, and the bad ones
python3 - "$U" "$JFK" >"$T/kserve.out" 2>&1 <<'EOF'
import json, struct, sys, urllib.request, wave
U, jfk = sys.argv[1], sys.argv[2]
w = wave.open(jfk); n = w.getnframes()
pcm = [s / 32768.0 for s in struct.unpack('<%dh' % n, w.readframes(n))]
PRE = "<|startoftranscript|><|en|><|transcribe|><|notimestamps|>"
def post(body, headers=None, model='whisper'):
    rq = urllib.request.Request(U + '/v2/models/%s/infer' % model, data=body, method='POST',
                                headers=headers or {'Content-Type': 'application/json'})
    try:
        r = urllib.request.urlopen(rq, timeout=120); return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
def check(name, got, want, pat=None):
    st, h, b = got
    good = st == want and (pat is None or pat.encode() in b)
    print(('ok ' if good else 'FAIL ') + name + ('' if good else ': %d %s' % (st, b[:300])))
pad = 160000  # 10 s rows, the seed pads to a multiple of 30 s; any N works
rows = [pcm[:pad], pcm[:48000] + [0.0] * (pad - 48000)]
flat = [x for r in rows for x in r]
j = {"inputs": [{"name": "WAV", "shape": [2, pad], "datatype": "FP32", "data": flat},
                {"name": "WAV_LENS", "shape": [2, 1], "datatype": "INT32", "data": [pad, 48000]},
                {"name": "TEXT_PREFIX", "shape": [2, 1], "datatype": "BYTES", "data": [PRE, PRE]}],
     "outputs": [{"name": "TRANSCRIPTS"}, {"name": "LANGUAGE"}, {"name": "SEGMENTS"}]}
r = post(json.dumps(j).encode()); check('infer json', r, 200, '"TRANSCRIPTS"')
if r[0] == 200:
    out = {o['name']: o for o in json.loads(r[2])['outputs']}
    print(('ok' if out['TRANSCRIPTS']['shape'] == [2, 1] and len(out['TRANSCRIPTS']['data']) == 2 else 'FAIL') + ' transcripts shape')
    print(('ok' if out['LANGUAGE']['data'] == ['en', 'en'] else 'FAIL %s' % out['LANGUAGE']['data']) + ' language from TEXT_PREFIX')
    print(('ok' if '"segments"' in out['SEGMENTS']['data'][0] else 'FAIL') + ' segments json')
    json_text = out['TRANSCRIPTS']['data']
# one row, 1-D WAV, hot words through <|startofprev|>, no outputs named
j1 = {"inputs": [{"name": "WAV", "shape": [48000], "datatype": "FP32", "data": pcm[:48000]},
                 {"name": "TEXT_PREFIX", "shape": [1], "datatype": "BYTES",
                  "data": ["<|startofprev|>Kennedy inauguration<|startoftranscript|><|en|><|transcribe|><|notimestamps|>"]}]}
check('infer 1-D + hot words', post(json.dumps(j1).encode(), model='whisper_bls'), 200, '"TRANSCRIPTS"')
# binary tensors in and out
pb = PRE.encode()
hdr = {"inputs": [{"name": "WAV", "shape": [2, pad], "datatype": "FP32", "parameters": {"binary_data_size": 8 * pad}},
                  {"name": "WAV_LENS", "shape": [2, 1], "datatype": "INT32", "parameters": {"binary_data_size": 8}},
                  {"name": "TEXT_PREFIX", "shape": [2, 1], "datatype": "BYTES", "parameters": {"binary_data_size": 2 * (4 + len(pb))}}],
       "outputs": [{"name": "TRANSCRIPTS", "parameters": {"binary_data": True}}]}
hj = json.dumps(hdr).encode()
blob = struct.pack('<%df' % (2 * pad), *flat) + struct.pack('<2i', pad, 48000) + (struct.pack('<I', len(pb)) + pb) * 2
r = post(hj + blob, {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(hj))})
check('infer binary', r, 200)
if r[0] == 200:
    hl = int(r[1].get('Inference-Header-Content-Length', '0'))
    b = r[2][hl:]
    texts = []
    while b:
        l = struct.unpack('<I', b[:4])[0]; texts.append(b[4:4 + l].decode()); b = b[4 + l:]
    print(('ok' if texts == json_text else 'FAIL %r vs %r' % (texts, json_text)) + ' binary == json transcripts')
# encoded audio bytes instead of WAV
wavbytes = open(jfk, 'rb').read()
ja = {"inputs": [{"name": "AUDIO", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": 4 + len(wavbytes)}}]}
ha = json.dumps(ja).encode()
check('infer AUDIO bytes', post(ha + struct.pack('<I', len(wavbytes)) + wavbytes,
      {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(ha))}), 200)
# bad requests: each a 400 naming the problem
check('malformed json', post(b'{"inputs": [ {"name": "WAV",'), 400, 'malformed JSON')
check('not an object', post(b'[1, 2]'), 400, 'JSON object')
check('wrong datatype', post(json.dumps({"inputs": [{"name": "WAV", "shape": [4], "datatype": "INT32", "data": [1, 2, 3, 4]}]}).encode()), 400, 'datatype')
check('shape mismatch', post(json.dumps({"inputs": [{"name": "WAV", "shape": [2, 4], "datatype": "FP32", "data": [0.0] * 5}]}).encode()), 400, 'elements')
check('missing WAV', post(json.dumps({"inputs": [{"name": "TEXT_PREFIX", "shape": [1], "datatype": "BYTES", "data": [PRE]}]}).encode()), 400, 'WAV')
check('unknown input', post(json.dumps({"inputs": [{"name": "MEL", "shape": [1], "datatype": "FP32", "data": [0.0]}]}).encode()), 400, 'unknown input')
check('non-number data', post(json.dumps({"inputs": [{"name": "WAV", "shape": [2], "datatype": "FP32", "data": [0.0, "x"]}]}).encode()), 400, 'non-number')
check('NaN samples', post(json.dumps({"inputs": [{"name": "WAV", "shape": [3], "datatype": "FP32", "data": [0.0, 1e999, 0.0]}]}).encode().replace(b'Infinity', b'1e999')), 400)
check('bad WAV_LENS', post(json.dumps({"inputs": [{"name": "WAV", "shape": [1, 4], "datatype": "FP32", "data": [0.0] * 4}, {"name": "WAV_LENS", "shape": [1, 1], "datatype": "INT32", "data": [9]}]}).encode()), 400, 'WAV_LENS')
check('bad TEXT_PREFIX', post(json.dumps({"inputs": [{"name": "WAV", "shape": [4], "datatype": "FP32", "data": [0.0] * 4}, {"name": "TEXT_PREFIX", "shape": [1], "datatype": "BYTES", "data": ["<|startoftranscript|><|xx-bogus|>"]}]}).encode()), 400, 'TEXT_PREFIX')
check('truncated binary', post(hj + blob[:-7], {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(hj))}), 400, 'binary')
check('header length beyond body', post(hj, {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(hj) + 100)}), 400, 'Inference-Header-Content-Length')
check('undecodable AUDIO', post(ha + struct.pack('<I', 11) + b'not a sound' + b'', {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(ha))}), 400)
check('unknown output', post(json.dumps({"inputs": j1["inputs"], "outputs": [{"name": "LOGITS"}]}).encode()), 400, 'unknown output')
EOF
tally kserve 20 "$T/kserve.out"

# ---- OpenAI endpoints
expect openai-json 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F model=whisper-1)" '"text"'
expect openai-text 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F model=whisper-1 -F response_format=text -F language=en)"
expect openai-srt 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F model=whisper-1 -F response_format=srt)" '^1'
expect openai-vtt 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F model=whisper-1 -F response_format=vtt)" 'WEBVTT'
expect openai-verbose-words 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F model=whisper-1 \
  -F response_format=verbose_json -F 'timestamp_granularities[]=word' -F 'timestamp_granularities[]=segment' -F prompt=Kennedy -F temperature=0)" '"words"'
expect openai-translate 200 "$(code POST /v1/audio/translations -F file=@"$JFK" -F model=whisper-1 -F response_format=json)" '"text"'
expect openai-models 200 "$(code GET /v1/models)" 'whisper-1'
expect openai-no-file 400 "$(code POST /v1/audio/transcriptions -F model=whisper-1)" '"invalid_request_error"'
expect openai-bad-format 400 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F response_format=xml)" 'response_format'
expect openai-bad-language 400 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F language=klingon)" 'language'
expect openai-words-need-verbose 400 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F 'timestamp_granularities[]=word')" 'verbose_json'
printf 'garbage garbage garbage' >"$T/bad.wav"
expect openai-undecodable 400 "$(code POST /v1/audio/transcriptions -F file=@"$T/bad.wav")" 'decoded'
expect openai-not-multipart 400 "$(code POST /v1/audio/transcriptions -H 'Content-Type: application/json' -d '{}')" 'multipart'
head -c $((25 * 1024 * 1024)) /dev/zero >"$T/big.bin"
expect oversized 413 "$(code POST /v2/models/whisper/infer --data-binary @"$T/big.bin" -H 'Content-Type: application/octet-stream')"

# ---- slow body and a client that goes away; the server keeps serving
python3 - "$P" >"$T/slow.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'POST /v2/models/whisper/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n')
t0 = time.time(); status = None
try:
    while time.time() - t0 < 15:
        s.sendall(b' ')
        time.sleep(0.5)
except OSError:
    pass
s.settimeout(5)
try:
    data = s.recv(200)
    status = data.split(b' ')[1].decode() if data else 'closed'
except OSError:
    status = 'closed'
print(status, round(time.time() - t0, 1))
EOF
read -r st secs <"$T/slow.out"
if [ "$st" = 408 ] || [ "$st" = closed ]; then ok; else bad "slow body: $(cat "$T/slow.out")"; fi
LONG=$T/long.wav
python3 - "$JFK" "$LONG" <<'EOF'
import sys, wave
w = wave.open(sys.argv[1]); p = w.getparams(); d = w.readframes(w.getnframes())
o = wave.open(sys.argv[2], 'wb'); o.setparams(p); o.writeframes(d * 12); o.close()
EOF
curl -s -m 1 -o /dev/null "$U/v1/audio/transcriptions" -F file=@"$LONG" -F response_format=json
expect after-disconnect 200 "$(code GET /v2/health/ready)"
expect still-transcribes 200 "$(code POST /v1/audio/transcriptions -F file=@"$JFK" -F response_format=text)"

# ---- the official OpenAI Node SDK (npm's openai, pinned in tests/node/package-lock.json)
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d "$SRC/tests/node/node_modules/openai" ]; then
    (cd "$SRC/tests/node" && npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) || { bad "npm ci failed:"; tail -5 "$T/npm.log" >&2; }
  fi
  if [ ! -d "$SRC/tests/node/node_modules/@grpc/grpc-js" ] && [ -d "$SRC/tests/node/node_modules" ]; then
    (cd "$SRC/tests/node" && npm ci --no-audit --no-fund >"$T/npm.log" 2>&1) || { bad "npm ci failed:"; tail -5 "$T/npm.log" >&2; }
  fi
  # gRPC with @grpc/grpc-js and the official KServe schema beside the project
  PROTOS=${HARK_SHARED:-$SRC/../shared}/data/protocols
  if ! grep -q "gRPC" "$T/log"; then
    echo "hark was built without gRPC: the gRPC checks are skipped"
  elif [ -f "$PROTOS/grpc_service.proto" ] && [ -d "$SRC/tests/node/node_modules/@grpc/grpc-js" ]; then
    node "$SRC/tests/node/grpc_test.mjs" "127.0.0.1:$GP" "$PROTOS" "$JFK" >"$T/grpc.out" 2>&1
    tally grpc 18 "$T/grpc.out"
  elif [ ! -f "$PROTOS/grpc_service.proto" ]; then
    echo "the official KServe schema is not beside the project ($PROTOS): the gRPC interop checks are skipped"
  else
    bad "grpc: @grpc/grpc-js is missing (npm ci in tests/node failed)"
  fi
  if [ -d "$SRC/tests/node/node_modules/openai" ]; then
    node "$SRC/tests/node/openai_sdk_test.mjs" "$U" "$JFK" >"$T/sdk.out" 2>&1
    tally "openai sdk" 9 "$T/sdk.out"
  fi
else
  echo "node/npm not installed: the OpenAI Node SDK checks are skipped"
fi

# ---- metrics
curl -s "http://127.0.0.1:$MP/metrics" >"$T/metrics"
for k in 'hark_requests_total{protocol="kserve",status="2xx"}' 'hark_requests_total{protocol="openai",status="4xx"}' \
         hark_audio_seconds_total 'hark_request_duration_seconds_bucket{protocol="openai",le="+Inf"}' \
         hark_request_rtf_count hark_engine_rounds_total hark_queue_depth hark_inflight_requests \
         'hark_engine_round_calls_bucket{le="+Inf"}' hark_engine_rounds_timed_out_total; do
  if grep -qF "$k" "$T/metrics"; then ok; else bad "metrics lack $k"; fi
done
if grep -q '"status":413' "$T/log" && grep -q '"path":"/v1/audio/transcriptions"' "$T/log"; then ok; else bad "access log"; fi

# ---- a 3 s request behind a 10 min one: it shares the engine's rounds and finishes first
python3 - "$JFK" "$T/ten.wav" <<'EOF2'
import sys, wave
w = wave.open(sys.argv[1]); p = w.getparams(); d = w.readframes(w.getnframes())
o = wave.open(sys.argv[2], 'wb'); o.setparams(p); o.writeframes((d * 55)[:600 * 16000 * 2]); o.close()
EOF2
python3 - "$U" "$JFK" "$T/ten.wav" >"$T/fair.out" 2>&1 <<'EOF2'
import sys, threading, time, urllib.request, uuid
U, short_path, long_path = sys.argv[1:4]
def post(path, clip=None):
    data = open(path, 'rb').read()
    if clip:
        import io, wave
        w = wave.open(io.BytesIO(data)); p = w.getparams(); fr = w.readframes(clip)
        b = io.BytesIO(); o = wave.open(b, 'wb'); o.setparams(p); o.writeframes(fr); o.close(); data = b.getvalue()
    bd = uuid.uuid4().hex
    body = (b'--' + bd.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + data +
            b'\r\n--' + bd.encode() + b'\r\nContent-Disposition: form-data; name="response_format"\r\n\r\ntext\r\n--' + bd.encode() + b'--\r\n')
    rq = urllib.request.Request(U + '/v1/audio/transcriptions', data=body, method='POST',
                                headers={'Content-Type': 'multipart/form-data; boundary=' + bd})
    t = time.time(); urllib.request.urlopen(rq, timeout=600).read(); return time.time() - t
solo = min(post(short_path, 48000) for _ in range(3))
res = {}
def run_long(): res['long'] = post(long_path); res['long_end'] = time.time()
th = threading.Thread(target=run_long); th.start()
time.sleep(0.3)
res['short'] = post(short_path, 48000); res['short_end'] = time.time()
th.join()
print('solo %.3f behind %.3f long %.3f multiple %.1f first %s' % (solo, res['short'], res['long'], res['short'] / solo,
      'short' if res['short_end'] < res['long_end'] else 'long'))
EOF2
if grep -q "first short" "$T/fair.out"; then ok; else bad "3 s behind 10 min: $(cat "$T/fair.out")"; fi
echo "fairness: $(cat "$T/fair.out")"

# ---- load: 200 clients at once, five waves; every admitted request answered with the solo
# transcript (the batch engine merges their steps), the rest refused with 429; the server's
# memory must not grow wave after wave (RSS moves by tens of MB with the threads and allocator
# caches of the moment, so a failure needs growth at every wave from the second and 64 MB in
# all; LeakSanitizer checks the ASan build's exit)
python3 - "$U" "$JFK" "$PID" >"$T/load.out" 2>&1 <<'EOF2'
import json, struct, sys, threading, urllib.request, wave
U, jfk, pid = sys.argv[1], sys.argv[2], sys.argv[3]
w = wave.open(jfk); n = w.getnframes()
pcm = [s / 32768.0 for s in struct.unpack('<%dh' % n, w.readframes(n))][16000:40000]
PRE = "<|startoftranscript|><|en|><|transcribe|><|notimestamps|>"
body = json.dumps({"inputs": [{"name": "WAV", "shape": [1, len(pcm)], "datatype": "FP32", "data": pcm},
                              {"name": "TEXT_PREFIX", "shape": [1, 1], "datatype": "BYTES", "data": [PRE]}]}).encode()
def infer():
    rq = urllib.request.Request(U + '/v2/models/whisper/infer', data=body, method='POST')
    try:
        r = urllib.request.urlopen(rq, timeout=300)
        return r.status, json.loads(r.read())['outputs'][0]['data'][0]
    except urllib.error.HTTPError as e:
        return e.code, None
    except Exception as e:
        return -1, repr(e)
def rss():
    for line in open('/proc/%s/status' % pid):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) // 1024
solo = infer()
print('solo', solo[0])
def wave_of(k):
    res = [None] * k
    def run(i): res[i] = infer()
    th = [threading.Thread(target=run, args=(i,)) for i in range(k)]
    for t in th: t.start()
    for t in th: t.join()
    return res
mem = []
for rnd in range(5):
    res = wave_of(200)
    ok = sum(1 for s, t in res if s == 200 and t == solo[1])
    wrong = sum(1 for s, t in res if s == 200 and t != solo[1])
    refused = sum(1 for s, t in res if s == 429)
    other = [(s, t) for s, t in res if s not in (200, 429)]
    print('wave', rnd, 'answered', ok, 'wrong', wrong, 'refused', refused, 'other', len(other), other[:3])
    import time; time.sleep(1.0)  # the connection threads gone
    mem.append(rss())
print('rss', *mem)
EOF2
if grep -q "^solo 200" "$T/load.out"; then ok; else bad "load: solo request: $(cat "$T/load.out")"; fi
for rnd in 0 1 2 3 4; do
  line=$(grep "^wave $rnd " "$T/load.out")
  set -- $line
  if [ "${4:-0}" -ge 50 ] && [ "${6:-1}" = 0 ] && [ "${10:-1}" = 0 ] && [ $(( ${4:-0} + ${8:-0} )) = 200 ]; then ok
  else bad "load wave $rnd: $line"; fi
done
set -- $(grep "^rss" "$T/load.out")
if ldd "$HARK" 2>/dev/null | grep -q libasan; then
  echo "AddressSanitizer build: its quarantine holds freed memory, RSS is not checked (LeakSanitizer checks leaks at the exit below)"
elif [ $# -ge 6 ] && ! { [ $(( $6 - $3 )) -gt 64 ] && [ "$3" -lt "$4" ] && [ "$4" -lt "$5" ] && [ "$5" -lt "$6" ]; }; then ok
else bad "load: memory grew with every wave: $(grep rss "$T/load.out")"; fi
echo "load: $(grep -E '^(wave|rss)' "$T/load.out" | tr '\n' ';')"

# ---- SIGTERM under load (40 clients): every admitted request answered, exit 0, then refused
for i in $(seq 40); do
  curl -s -o "$T/drain$i" -w '%{http_code}' "$U/v1/audio/transcriptions" -F file=@"$JFK" -F response_format=text >"$T/drain$i.code" &
done
sleep 0.5
kill -TERM "$PID"
wait "$PID"; rc=$?
PID=
wait
if [ $rc -eq 0 ]; then ok; else bad "SIGTERM: exit $rc"; tail -5 "$T/log" >&2; fi
answered=0 lost=0
for i in $(seq 40); do
  c=$(cat "$T/drain$i.code")
  case $c in
    200) answered=$((answered + 1)) ;;
    429|503|000) ;; # refused: not admitted (000: connection refused after the drain began)
    *) lost=$((lost + 1)); echo "drain: request $i got $c" >&2 ;;
  esac
done
if [ $lost = 0 ] && [ $answered -ge 1 ]; then ok; else bad "drain: $answered answered, $lost lost"; fi
echo "drain: $answered of 40 answered, the rest refused"
if curl -s -m 2 "$U/v2/health/live" >/dev/null 2>&1; then bad "still accepting after SIGTERM"; else ok; fi
grep -q "draining" "$T/log" && ok || bad "no drain message"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
