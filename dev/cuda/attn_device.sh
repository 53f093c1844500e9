#!/usr/bin/env bash
# On the GPU machine, after dev/device-cuda.sh has built build-gpu: the encoder attention
# kernels paired in one call (HARK_CUDA_ATTN=mma keeps the mma.sync kernel; the default takes
# the wgmma one on Hopper). Each spec is "ARCH BATCH [bench options]"; logs go to $OUT/attn.log.
#   bash dev/cuda/attn_device.sh "large-v3 256 --cross-kv 4 --fp8-encoder" "tiny 1"
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
mkdir -p "$OUTDIR"
log="$OUTDIR/attn.log"
for spec in "$@"; do
  set -- $spec
  arch=$1 batch=$2
  shift 2
  for attn in mma wgmma; do
    echo "== $arch B=$batch $* HARK_CUDA_ATTN=$attn" | tee -a "$log"
    HARK_CUDA_ATTN=$attn build-gpu/hark bench --device cuda:0 --arch "$arch" --batch "$batch" \
      --repeat 2 "$@" 2>&1 | tee -a "$log"
  done
done
