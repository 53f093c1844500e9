#!/usr/bin/env bash
# On the GPU machine, after dev/device-cuda.sh has built build-gpu: the FP8 encoder's figures
# (docs/quant.md, bench/RESULTS.md) for one architecture, in one call.
#   bash dev/fp8/device.sh [ARCH] [BIG_BATCH]   (default large-v3 256)
# One random model (seed 0), fp16 weights: hark bench at batch 1 (fp16 cross K/V) and at
# BIG_BATCH (int8 cross K/V), without and with --fp8-encoder; then hark compare of the FP8
# encoder against the fp16 one (100 teacher-forced steps on samples/jfk.wav), with the tensor
# cores' fast FP8 accumulation (the default) and without (HARK_CUDA_FP8_FAST=0).
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
arch=${1:-large-v3}
big=${2:-256}
H=build-gpu/hark
dir=/tmp/fp8
mkdir -p "$dir" "$OUTDIR"
log="$OUTDIR/fp8-$arch.log"
m="$dir/$arch.hark"
"$H" convert --random "$arch" "$m" 2>&1 | tee -a "$log"
for fp8 in "" --fp8-encoder; do
  "$H" bench -m "$m" --device cuda:0 --batch 1 --repeat 5 $fp8 2>&1 | tee -a "$log"
  if [ "$big" != 0 ]; then
    "$H" bench -m "$m" --device cuda:0 --batch "$big" --repeat 2 --cross-kv 8 $fp8 2>&1 | tee -a "$log"
  fi
done
for fast in 1 0; do
  echo "HARK_CUDA_FP8_FAST=$fast" | tee -a "$log"
  HARK_CUDA_FP8_FAST=$fast "$H" compare -m "$m" -m "$m" --device cuda:0 --test-fp8-encoder \
    --steps 100 samples/jfk.wav 2>&1 | tee -a "$log"
done
if [ "$big" != 0 ]; then
  HARK_CUDA_FP8_FAST=0 "$H" bench -m "$m" --device cuda:0 --batch "$big" --repeat 2 --cross-kv 8 \
    --fp8-encoder 2>&1 | tee -a "$log"
fi
rm -rf "$dir"
