#!/usr/bin/env bash
# On the GPU machine: build hark (CPU engine, no FFmpeg) from the carried Debian packages and
# check full-size random models converted from transformers' safetensors and from an
# OpenAI-layout .pt against transformers' fp32 logits. Usage: bash dev/device-parity.sh ARCH...
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release -DHARK_WITH_FFMPEG=OFF \
      -DCMAKE_PREFIX_PATH=/tmp/deps/usr >"$OUTDIR/cmake.log" 2>&1 || { tail -30 "$OUTDIR/cmake.log"; exit 1; }
cmake --build build-dev -j 16 >"$OUTDIR/build.log" 2>&1 || { tail -30 "$OUTDIR/build.log"; exit 1; }
rc=0
for arch in "$@"; do
  PYTHONUNBUFFERED=1 python3 dev/reference/make_goldens.py fullsize --arch "$arch" --hark build-dev/hark \
      --work /tmp/fs 2>&1 | tee -a "$OUTDIR/parity.log" || rc=1
  rm -rf /tmp/fs
done
exit $rc
