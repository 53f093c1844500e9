#!/usr/bin/env bash
# On the GPU machine: make test-cuda on the working tree (TEST=0 skips it and builds only the
# CLI), then the same hark built with one source file replaced by a base version, and benches of
# both binaries alternated (base, new) for each spec.
#   BASE=path/to/base.cu FILE=src/backend/cuda/gemv.cu bash dev/cuda/ab_bin.sh   (logs in $OUT)
#   BATCH=256 SPECS="--arch large-v3 --cross-kv 4 --fp8-encoder;--arch tiny" TEST=0 ...
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
BATCH=${BATCH:-1}
SPECS=${SPECS:---arch large-v3;--arch large-v3-turbo;--arch tiny;-m /tmp/lint8.st;-m /tmp/lint4.st;--arch large-v3}
if [ "${TEST:-1}" = 1 ]; then
  timeout 300 bash dev/device-cuda.sh test > "$OUTDIR/test.log" 2>&1; echo "test rc $?"
  grep -E "passed|failed|FAIL" "$OUTDIR/test.log" | tail -6
else
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHARK_WITH_FFMPEG=OFF -DHARK_WITH_CUDA=ON \
        -DCMAKE_PREFIX_PATH=/tmp/deps/usr > "$OUTDIR/cmake.log" 2>&1
  cmake --build build-gpu -j 16 --target hark_cli > "$OUTDIR/build.log" 2>&1; echo "build rc $?"
fi
cp build-gpu/hark /tmp/hark_new
cp "$FILE" /tmp/file_new && cp "$BASE" "$FILE" && cmake --build build-gpu -j 16 --target hark_cli > "$OUTDIR/build-base.log" 2>&1
echo "base build rc $?"; cp build-gpu/hark /tmp/hark_base; cp /tmp/file_new "$FILE"
case "$SPECS" in *lint*) for q in int8 int4; do /tmp/hark_new convert --random large-v3 --type $q /tmp/l$q.st > /dev/null 2>&1; done ;; esac
bench() { # tag binary args...
  local tag=$1 bin=$2; shift 2
  echo "$tag $(timeout 100 $bin bench --device cuda:0 --batch "$BATCH" --repeat 2 "$@" 2>&1 | grep '^{' | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("step %.4f ms total %.2f ms enc %.2f rtfx %.0f" % (d["decoder_ms_per_step"], d["total_ms"], d["encoder_ms"], d["rtfx"]))')"
}
IFS=';' read -ra LIST <<< "$SPECS"
for spec in "${LIST[@]}"; do
  for v in base new; do bench "$v $spec" /tmp/hark_$v $spec; done
done
