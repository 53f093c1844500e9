#!/usr/bin/env bash
# On the GPU machine: per-kernel GPU time of short hark bench runs under Nsight Compute (one
# metric, no cache flush, clocks left alone), CSV per configuration in $OUT/prof-*.csv.
# Summarise here with: python3 dev/cuda/prof_summary.py DIR
#   bash dev/cuda/prof.sh "large-v3 1" "large-v3 128 --cross-kv 8" ...
set -uo pipefail
OUTDIR=${OUT:-/tmp/out}
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for cfg in "$@"; do
  set -- $cfg
  arch=$1; b=$2; shift 2
  tag=$(echo "$arch-$b-$*" | tr ' ' '_' | tr -d -c 'A-Za-z0-9._-')
  "$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
    --page raw --launch-count "${PROF_LAUNCHES:-3000}" \
    build-gpu/hark bench --device cuda:0 --arch "$arch" --batch "$b" --tokens 4 --repeat 1 "$@" \
    >"$OUTDIR/prof-$tag.csv" 2>"$OUTDIR/prof-$tag.err"
  echo "$tag: rc $? $(wc -l <"$OUTDIR/prof-$tag.csv") lines"
done
