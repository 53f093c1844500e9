#!/usr/bin/env bash
# On the GPU machine: hark serve on cuda:0 in benchmark mode (every window exactly 100 tokens,
# as hark bench's work unit) against dev/serve/load.py at several concurrencies, and hark bench
# in-process in the same call. Logs in $OUT, with the engine's rounds in trace.txt
# (HARK_BATCH_TRACE; TRACE=/dev/null to skip); SKIP_BENCH=1 skips the in-process run;
# PROTOCOLS="http grpc" (default) says which load runs go through which protocol; the load comes
# from `hark client bench` (CLIENT=python: dev/serve/load.py).
# Usage: bash dev/serve/device.sh ARCH [CONC] [REQS] [hark serve options]
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}; mkdir -p "$OUTDIR"
arch=${1:-large-v3}; conc=${2:-1,8,64}; reqs=${3:-128}
shift $(( $# < 3 ? $# : 3 )) # the rest goes to hark serve
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHARK_WITH_FFMPEG=OFF -DHARK_WITH_CUDA=ON \
      -DCMAKE_PREFIX_PATH=/tmp/deps/usr >"$OUTDIR/cmake.log" 2>&1 || { tail -20 "$OUTDIR/cmake.log"; exit 1; }
cmake --build build-gpu -j 16 >"$OUTDIR/build.log" 2>&1 || { grep -E 'error' "$OUTDIR/build.log" | head; exit 1; }
grep -q "serve -m" <(build-gpu/hark --help 2>&1) || { echo "no server in this build"; grep -i microhttpd "$OUTDIR/cmake.log"; exit 1; }
[ -f /tmp/model-$arch.hark ] || build-gpu/hark convert --random "$arch" /tmp/model-$arch.hark >/dev/null 2>&1 || { echo "convert failed"; exit 1; }
ln -sf /tmp/model-$arch.hark /tmp/model.hark
[ -n "${SKIP_BENCH:-}" ] || build-gpu/hark bench -m /tmp/model.hark --device cuda:0 --batch 1,64 --repeat 2 2>&1 | grep '^{' | tee "$OUTDIR/bench.jsonl"
gport=18001; grep -q "protoc-c not found" "$OUTDIR/cmake.log" && gport=0
HARK_BATCH_TRACE=${TRACE:-$OUTDIR/trace.txt} OMP_WAIT_POLICY=passive build-gpu/hark serve -m /tmp/model.hark --device cuda:0 --host 127.0.0.1 \
  --http-port 18000 --grpc-port $gport --metrics-port 18002 --max-batch-size 64 --bench-tokens 100 \
  --access-log false "$@" 2>"$OUTDIR/serve.log" &
pid=$!
ready() { python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:18000/v2/health/ready', timeout=2)" 2>/dev/null; }
for _ in $(seq 600); do ready && break; kill -0 $pid 2>/dev/null || { tail -5 "$OUTDIR/serve.log"; exit 1; }; sleep 0.2; done
for proto in ${PROTOCOLS:-http grpc}; do
  if [ $proto = grpc ] && [ $gport = 0 ]; then echo "no gRPC in this build"; continue; fi
  url=http://127.0.0.1:18000; [ $proto = grpc ] && url=127.0.0.1:$gport
  if [ "${CLIENT:-hark}" = hark ]; then # hark client bench: C, one connection a client thread
    build-gpu/hark client bench --url $url --protocol $proto --concurrency "$conc" --batch-size 1 \
      --requests "$reqs" --tile 30 --json "$OUTDIR/client-$proto.jsonl" samples/jfk.wav | tee -a "$OUTDIR/client.txt"
  else # the Python client (stdlib urllib, or grpcio)
    python3 dev/serve/load.py $url samples/jfk.wav --protocol $proto --concurrency "$conc" --requests "$reqs" |
      sed "s/^{/{\"protocol\": \"$proto\", /" | tee -a "$OUTDIR/load.jsonl"
  fi
done
python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:18002/metrics').read().decode())" > "$OUTDIR/metrics.txt"
kill -TERM $pid; wait $pid; echo "serve exit $?"
