#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build-fuzz/) and runs each for S seconds
# from a seed corpus made here; a crash, leak or sanitizer report stops that target and leaves
# its input under build-fuzz/artifacts/.
#   bash dev/fuzz/run.sh [S] [TARGET...]   (default 60 s; wav pickle model tokenize normalize)
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-60}
shift || true
TARGETS=${*:-wav pickle model tokenize normalize}
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang cmake -S . -B build-fuzz -DHARK_FUZZ=ON -DHARK_SANITIZE=address,undefined \
    -DHARK_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)" --target hark_cli $(for t in $TARGETS; do echo "fuzz_$t"; done) >/dev/null
C=build-fuzz/corpus
A=build-fuzz/artifacts
mkdir -p "$A"
seed() { # seed TARGET: the starting inputs of each target
  local d=$C/$1
  [ -d "$d" ] && return 0
  mkdir -p "$d"
  case $1 in
    wav)
      cp samples/jfk.wav "$d/"
      python3 - "$d" <<'PY'
import struct, sys, wave
d = sys.argv[1]
def riff(fmt_tag, ch, rate, bits, data, extra=b""):
    fmt = struct.pack("<HHIIHH", fmt_tag, ch, rate, rate * ch * bits // 8, ch * bits // 8, bits) + extra
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body
open(d + "/u8.wav", "wb").write(riff(1, 1, 8000, 8, bytes(range(0, 256, 3))))
open(d + "/s24_stereo.wav", "wb").write(riff(1, 2, 44100, 24, bytes(range(60))))
open(d + "/f32.wav", "wb").write(riff(3, 1, 16000, 32, struct.pack("<4f", 0.5, -0.5, 1.0, 0.0)))
open(d + "/ext.wav", "wb").write(riff(0xFFFE, 1, 16000, 16, b"\x01\x00" * 16,
     struct.pack("<HHI", 22, 16, 4) + b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"))
PY
      ;;
    pickle)
      python3 - "$d" <<'PY'
import io, pickle, sys, zipfile
from collections import OrderedDict
d = sys.argv[1]
obj = {"dims": {"n_mels": 80, "n_vocab": 51865, "n_audio_ctx": 1500}, "model_state_dict":
       OrderedDict([("encoder.conv1.weight", ("storage", "0", (4, 3), 1.5, True, None))]),
       "list": [1, -2, 3.25, None, True, "text", b"bytes", (1, 2), {1: 2}]}
for proto in (2, 4):
    p = pickle.dumps(obj, protocol=proto)
    open(f"{d}/p{proto}.pkl", "wb").write(p)
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", p)
        z.writestr("archive/data/0", bytes(48))
        z.writestr("archive/version", "3\n")
    open(f"{d}/z{proto}.pt", "wb").write(b.getvalue())
PY
      ;;
    model)
      build-fuzz/hark convert --random nano-test --seed 1 "$d/nano.hark" >/dev/null
      for f in ../shared/data/model-format-fixtures/*.bin; do [ -f "$f" ] && cp "$f" "$d/"; done
      ;;
    tokenize)
      printf 'And so, my fellow Americans: ask not what your country can do for you.' >"$d/jfk"
      printf "Grüße, 世界! It's   12,345 tokens\n\t<|endoftext|> 'll 've" >"$d/mixed"
      ;;
    normalize)
      i=0
      while IFS= read -r line; do
        i=$((i + 1)); printf '%s' "$line" >"$d/case$i"
      done < <(cut -f1 tests/data/normalizer_cases.tsv | head -200)
      ;;
  esac
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
rc=0
for t in $TARGETS; do
  seed "$t"
  max=$(ls -l "$C/$t" | awk 'NR > 1 && $5 > m {m = $5} END {print m + 0}') # the largest seed
  echo "== fuzz_$t: $S s"
  if ! build-fuzz/fuzz_$t -max_total_time="$S" -max_len=$(( max > 4096 ? max : 4096 )) -rss_limit_mb=4096 \
       -artifact_prefix="$A/$t-" -print_final_stats=1 "$C/$t" 2>&1 | tail -12; then
    rc=1
  fi
done
exit $rc
