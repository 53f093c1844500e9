#!/usr/bin/env bash
# On the GPU machine: make test-cuda, then one-window (B=1) benches with the staged small-batch
# products off and on (HARK_CUDA_GEMV_STAGE=0/1), alternated, fp16 and large-v3 int8/int4.
#   bash dev/cuda/stage/stage_ab.sh  (after git apply dev/cuda/stage/integration.patch)   (logs in $OUT)
source dev/device-env.sh
timeout 420 bash dev/device-cuda.sh test > $OUT/test.log 2>&1; echo test rc $?; grep -E "passed|failed|FAIL" $OUT/test.log | tail -8
for a in tiny large-v3-turbo large-v3; do for s in 0 1 0 1; do echo "== $a stage=$s"; HARK_CUDA_GEMV_STAGE=$s timeout 120 build-gpu/hark bench --device cuda:0 --arch $a --batch 1 --repeat 3 2>&1 | tail -2; done; done
for q in int8 int4; do timeout 200 build-gpu/hark convert --random large-v3 --type $q /tmp/l$q.st > /dev/null 2>&1; for s in 0 1; do echo "== large-v3 $q stage=$s"; HARK_CUDA_GEMV_STAGE=$s timeout 120 build-gpu/hark bench -m /tmp/l$q.st --device cuda:0 --batch 1 --repeat 3 2>&1 | tail -2; done; done
