#!/usr/bin/env bash
# int8 / int4 logits quality on the CPU (docs/quant.md, "Quality"): for each architecture, a
# random model (seed 0) in f16, quantized with `hark quantize`, then `hark compare --threads 1`
# over 100 teacher-forced steps on samples/jfk.wav. One line per (architecture, type).
#   bash dev/quant/cpu_quality.sh [HARK] [ARCH...]   (default: build/hark tiny-test v3-test tiny base)
set -euo pipefail
HARK=${1:-build/hark}
shift || true
ARCHS=${*:-tiny-test v3-test tiny base}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for a in $ARCHS; do
  "$HARK" convert --random "$a" --seed 0 "$T/f16.hark" >/dev/null
  for q in int8 int4/32 int4/64 int4/128; do
    ty=${q%/*}; g=${q#*/}
    args=(--type "$ty"); [ "$ty" = int4 ] && args+=(--group "$g")
    "$HARK" quantize "${args[@]}" "$T/f16.hark" "$T/q.hark" >/dev/null 2>&1 || { echo "$a $q: not quantized"; continue; }
    echo "$a $q $("$HARK" compare --threads 1 --json -m "$T/f16.hark" -m "$T/q.hark" samples/jfk.wav)"
  done
done
