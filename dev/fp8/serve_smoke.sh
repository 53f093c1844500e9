#!/usr/bin/env bash
# On the GPU machine, after dev/device-cuda.sh has built build-gpu: hark serve with the FP8
# encoder and int4 cross-attention K/V, asked over KServe HTTP, OpenAI and a short client bench.
#   bash dev/fp8/serve_smoke.sh
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
H=build-gpu/hark
M=/tmp/smoke-tiny.hark
"$H" convert --random tiny --seed 2 "$M" >/dev/null 2>&1
"$H" serve -m "$M" --device cuda:0 --fp8-encoder true --cross-kv-bits 4 --http-port 18000 \
  --grpc-port 0 --metrics-port 0 --access-log false --max-batch-size 8 >"$OUTDIR/serve.log" 2>&1 &
pid=$!
for i in $(seq 1 120); do
  "$H" client health --url http://127.0.0.1:18000 >/dev/null 2>&1 && break
  sleep 0.5
done
"$H" client health --url http://127.0.0.1:18000 2>&1 | tail -2
"$H" client asr --url http://127.0.0.1:18000 samples/jfk.wav 2>&1 | tail -2
"$H" client asr --url http://127.0.0.1:18000 --protocol openai samples/jfk.wav 2>&1 | tail -2
"$H" client bench --url http://127.0.0.1:18000 --concurrency 1,8 --batch-size 1,4 --requests 16 \
  samples/jfk.wav 2>&1 | tail -8
kill $pid
wait $pid
echo "serve exit $?"
tail -3 "$OUTDIR/serve.log"
