#!/usr/bin/env bash
# On the GPU machine, after dev/device-cuda.sh has built build-gpu: the quantization figures of
# docs/quant.md and bench/RESULTS.md for one architecture, all in one call.
#   bash dev/quant/device.sh [ARCH] [BIG_BATCH]   (default large-v3 256)
# For f16, int8, int4/64 and int4/128 weights of the same random model (seed 0):
#  - hark bench --batch 1 (fp16 cross K/V) and --batch BIG_BATCH (int8 cross K/V);
#  - hark compare against the f16 model on the GPU: 100 teacher-forced steps on samples/jfk.wav.
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
arch=${1:-large-v3}
big=${2:-256}
H=build-gpu/hark
dir=/tmp/quant
mkdir -p "$dir" "$OUTDIR"
log="$OUTDIR/quant-$arch.log"
"$H" convert --random "$arch" "$dir/f16.hark" 2>&1 | tee -a "$log"
"$H" quantize --type int8 "$dir/f16.hark" "$dir/int8.hark" 2>&1 | tee -a "$log"
"$H" quantize --type int4 --group 64 "$dir/f16.hark" "$dir/int4-64.hark" 2>&1 | tee -a "$log"
"$H" quantize --type int4 --group 128 "$dir/f16.hark" "$dir/int4-128.hark" 2>&1 | tee -a "$log"
ls -l "$dir" | tee -a "$log"
for q in f16 int8 int4-64 int4-128; do
  "$H" bench -m "$dir/$q.hark" --device cuda:0 --batch 1 --repeat 5 2>&1 | tee -a "$log"
  if [ "$big" != 0 ]; then
    "$H" bench -m "$dir/$q.hark" --device cuda:0 --batch "$big" --repeat 2 --cross-kv 8 2>&1 | tee -a "$log"
  fi
done
for q in int8 int4-64 int4-128; do
  "$H" compare -m "$dir/f16.hark" -m "$dir/$q.hark" --device cuda:0 --steps 100 samples/jfk.wav 2>&1 | tee -a "$log"
done
rm -rf "$dir"
