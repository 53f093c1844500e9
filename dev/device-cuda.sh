#!/usr/bin/env bash
# On the GPU machine: build hark with the CUDA backend (dependencies from the carried .deps),
# run the GPU tests, optionally the full-size parity and the benchmarks with the transformers
# peer in the same call. Logs go to $OUT.
#   bash dev/device-cuda.sh test                 # build + make test-cuda
#   bash dev/device-cuda.sh parity ARCH...       # full-size parity incl. CUDA f32/f16/bf16
#   bash dev/device-cuda.sh bench ARCH BATCHES   # hark bench --device cuda:0
#   bash dev/device-cuda.sh peer ARCH BATCHES    # ../shared/bench/peer_transformers.py (carried
#                                                # in .dev/bench)
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
mkdir -p "$OUTDIR"
if [ ! -x build-gpu/hark ] || [ "${REBUILD:-1}" = 1 ]; then
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHARK_WITH_FFMPEG=OFF -DHARK_WITH_CUDA=ON \
        -DCMAKE_PREFIX_PATH=/tmp/deps/usr >"$OUTDIR/cmake.log" 2>&1 || { tail -30 "$OUTDIR/cmake.log"; exit 1; }
  cmake --build build-gpu -j 16 >"$OUTDIR/build.log" 2>&1 || { grep -E 'error' "$OUTDIR/build.log" | head -30; exit 1; }
fi
job=$1; shift
case "$job" in
  test)
    (cd build-gpu && ctest --output-on-failure -L cuda) 2>&1 | tee -a "$OUTDIR/test-cuda.log" ;;
  parity)
    for arch in "$@"; do
      PYTHONUNBUFFERED=1 python3 dev/reference/make_goldens.py fullsize --arch "$arch" --cuda \
        --hark build-gpu/hark --work /tmp/fs 2>&1 | grep -v 'Writing model shards' | tee -a "$OUTDIR/parity.log"
      rm -rf /tmp/fs
    done ;;
  bench)
    arch=$1; batches=$2; shift 2
    build-gpu/hark bench --device cuda:0 --arch "$arch" --batch "$batches" --repeat 3 "$@" 2>&1 | tee -a "$OUTDIR/bench.log" ;;
  peer)
    arch=$1; batches=$2
    PYTHONUNBUFFERED=1 python3 .dev/bench/peer_transformers.py --model "$arch" --batch "$batches" --tokens 100 \
      --wav samples/jfk.wav --modes "${PEER_MODES:-manual,generate,generate-static}" 2>&1 | tee -a "$OUTDIR/peer.log" ;;
esac
