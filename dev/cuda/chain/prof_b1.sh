#!/usr/bin/env bash
# On the GPU machine: the chain floor (chain.cu), then ncu kernel times of large-v3 one-window
# steps in f16, int8 and int4 (3 tokens), summarised by dev/cuda/prof_summary.py. Logs in $OUT.
source dev/device-env.sh
(nvcc -O3 -arch=sm_90 -o /tmp/chain dev/cuda/chain/chain.cu && /tmp/chain) 2>&1 | tee $OUT/chain.log
timeout 400 bash dev/device-cuda.sh none > $OUT/build.txt 2>&1; echo build rc $?
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
for q in int8 int4; do build-gpu/hark convert --random large-v3 --type $q /tmp/l$q.st > /dev/null 2>&1; done
for cfg in "--arch large-v3" "-m /tmp/lint8.st" "-m /tmp/lint4.st"; do
  tag=$(echo $cfg | tr -d -c 'a-z0-9')
  timeout 150 $NCU --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --page raw --launch-count 2000 build-gpu/hark bench --device cuda:0 $cfg --batch 1 --tokens 3 --repeat 1 > $OUT/prof-$tag.csv 2>$OUT/prof-$tag.err; echo "$tag rc $?"
done
python3 dev/cuda/prof_summary.py $OUT 2>&1 | tee $OUT/summary.txt | head -120
