#!/usr/bin/env bash
# The main job: transcribe the bundled sample (samples/jfk.wav) with hark.
# The model: $HARK_MODEL, else a converted model in models/, else the official tiny.en fetched
# with `hark download` (checked against its sha256, converted, cached) when the network allows,
# else a random-weight tiny model, clearly labelled: its transcript is meaningless, it shows the
# whole pipeline running.
set -euo pipefail
cd "$(dirname "$0")/.."
HARK=./build/hark
model="${HARK_MODEL:-}"
if [ -z "$model" ]; then
  for f in models/*.hark; do
    [ -e "$f" ] || continue
    case "$f" in *-random.hark) ;; *) model="$f"; break ;; esac
  done
fi
if [ -z "$model" ] && $HARK download --help >/dev/null 2>&1; then
  echo "+ $HARK download tiny.en"
  if path=$($HARK download tiny.en); then
    model="$path"
  else
    echo "(no network: could not download tiny.en)"
  fi
fi
if [ -z "$model" ]; then
  model=models/tiny-random.hark
  if [ ! -e "$model" ]; then
    mkdir -p models
    $HARK convert --random tiny --seed 1 "$model"
  fi
  echo "No real Whisper model at hand: using $model (random weights)."
  echo "To use a real one: ./build/hark download tiny.en, or ./build/hark convert ggml-tiny.bin models/tiny.hark"
fi
echo "+ $HARK transcribe -m $model --output-dir build/demo samples/jfk.wav"
$HARK transcribe -m "$model" --output-dir build/demo samples/jfk.wav
echo "(transcripts in txt, srt, vtt, tsv and json: build/demo/)"
