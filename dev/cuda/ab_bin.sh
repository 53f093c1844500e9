#!/usr/bin/env bash
# On the GPU machine: make test-cuda on the working tree, then the same hark built with one
# source file replaced by a base version, and one-window benches of both binaries alternated.
#   BASE=path/to/base.cu FILE=src/backend/cuda/gemv.cu bash dev/cuda/ab_bin.sh   (logs in $OUT)
set -uo pipefail
source dev/device-env.sh
OUTDIR=${OUT:-/tmp/out}
timeout 300 bash dev/device-cuda.sh test > "$OUTDIR/test.log" 2>&1; echo "test rc $?"
grep -E "passed|failed|FAIL" "$OUTDIR/test.log" | tail -6
cp build-gpu/hark /tmp/hark_new
cp "$FILE" /tmp/file_new && cp "$BASE" "$FILE" && cmake --build build-gpu -j 16 --target hark_cli > "$OUTDIR/build-base.log" 2>&1
echo "base build rc $?"; cp build-gpu/hark /tmp/hark_base; cp /tmp/file_new "$FILE"
for q in int8 int4; do /tmp/hark_new convert --random large-v3 --type $q /tmp/l$q.st > /dev/null 2>&1; done
bench() { # tag binary args...
  local tag=$1 bin=$2; shift 2
  echo "$tag $(timeout 100 $bin bench --device cuda:0 --batch 1 --repeat 2 "$@" 2>&1 | grep '^{' | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("step %.4f ms total %.2f ms enc %.2f" % (d["decoder_ms_per_step"], d["total_ms"], d["encoder_ms"]))')"
}
for spec in "--arch large-v3" "--arch large-v3-turbo" "--arch tiny" "-m /tmp/lint8.st" "-m /tmp/lint4.st" "--arch large-v3"; do
  for v in base new; do bench "$v $spec" /tmp/hark_$v $spec; done
done
