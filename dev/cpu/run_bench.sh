#!/bin/sh
# run_bench.sh — builds the CPU kernel lab and stage benchmark and runs them on 2 threads.
# Usage (from the repository root): sh dev/cpu/run_bench.sh [outdir]
set -e
out=${1:-/tmp/hark_cpu_bench}
mkdir -p "$out"
CF="-std=c11 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc $(pkg-config --cflags openblas)"
LIBS="$(pkg-config --libs openblas) -lm"
gcc $CF dev/cpu/gemv_f16.c src/backend/cpu/matmul.c src/util/half.c src/util/error.c $LIBS -o "$out/gemv_f16"
gcc $CF dev/cpu/bench_cpu.c src/backend/cpu/*.c src/util/*.c $LIBS -o "$out/bench_cpu"
for a in tiny base; do
    for b in 1 4; do "$out/bench_cpu" $a 2 $b; done
done
"$out/gemv_f16" 2
