#!/usr/bin/env bash
# `hark eval -m MODEL DATASET` on a small random model, over every dataset form (Kaldi with text
# or trans.txt, LibriSpeech, TSV, a folder of audio): the hypotheses, the WER line and its JSON,
# --hyp read back by `hark wer`; and bad input: Kaldi pipes, missing audio, malformed lines,
# undecodable audio, a missing dataset (clear messages, the rest still scored, exit 1).
set -u
HARK=${1:-./build/hark}
case $HARK in /*) ;; *) HARK=$PWD/$HARK ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

if ! "$HARK" --help 2>&1 | grep -q "eval -m MODEL"; then
  echo "hark was built without 'hark eval' (utf8proc missing): skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
M=$T/m.hark
"$HARK" convert --random tiny-test --seed 5 "$M" >/dev/null 2>&1 || { echo "convert failed"; exit 1; }
JFK=$SRC/samples/jfk.wav
REF="And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
EV() { "$HARK" eval -m "$M" --threads 2 --max-tokens 8 --temperature-increment 0 "$@"; }
json_check() { # json_check NAME FILE PYTHON-CONDITION
  if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert $3, j" "$2" 2>"$T/jerr"; then ok
  else bad "$1: $(cat "$T/jerr" "$2")"; fi
}

# ---- Kaldi: wav.scp + text
mkdir -p "$T/kaldi/wav"
cp "$JFK" "$T/kaldi/wav/a.wav"; cp "$JFK" "$T/kaldi/wav/b.wav"
printf 'utt_a wav/a.wav\nutt_b\twav/b.wav\n' >"$T/kaldi/wav.scp"
printf 'utt_a %s\nutt_b %s\n' "$REF" "$REF" >"$T/kaldi/text"
EV "$T/kaldi" --json "$T/k.json" --hyp "$T/k.hyp" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 0 ] && grep -q "^utt_a	" "$T/out" && grep -q "^WER .* (2 scored of 2, 0 failed)" "$T/err"
if [ $? = 0 ]; then ok; else bad "kaldi: rc $rc $(cat "$T/out" "$T/err")"; fi
json_check "kaldi json" "$T/k.json" "j['dataset'] == 'kaldi' and j['scored'] == 2 and j['ref'] == 44 and j['normalizer'] == 'english' and j['rtfx'] > 0"
# the hypotheses read back by hark wer give the same counts
"$HARK" wer "$T/kaldi/text" "$T/k.hyp" --json "$T/w.json" >/dev/null 2>&1
python3 -c "
import json, sys
e, w = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert (e['sub'], e['del'], e['ins'], e['ref']) == (w['sub'], w['del'], w['ins'], w['ref']), (e, w)
" "$T/k.json" "$T/w.json" 2>"$T/jerr" && ok || bad "eval vs wer: $(cat "$T/jerr")"
# the seed's mini sets name the transcripts trans.txt
mv "$T/kaldi/text" "$T/kaldi/trans.txt"
EV "$T/kaldi" --json "$T/k2.json" >/dev/null 2>&1
json_check "kaldi trans.txt" "$T/k2.json" "j['scored'] == 2"

# ---- bad Kaldi lines: a pipe, an id without audio, a missing file; the rest still scored
printf 'utt_c sox in.flac -t wav - |\nutt_d\nutt_e wav/none.wav\n' >>"$T/kaldi/wav.scp"
EV "$T/kaldi" --json "$T/k3.json" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "wav.scp:3: a command (Kaldi pipe)" "$T/err" && grep -q "wav.scp:4: an id without audio" "$T/err" &&
  grep -q "wav.scp:5: no such audio file" "$T/err"
if [ $? = 0 ]; then ok; else bad "kaldi problems: rc $rc $(cat "$T/err")"; fi
json_check "kaldi problems: the rest scored" "$T/k3.json" "j['scored'] == 2"

# ---- LibriSpeech: speaker/chapter/speaker-chapter.trans.txt beside the audio
mkdir -p "$T/libri/19/198"
cp "$JFK" "$T/libri/19/198/19-198-0000.wav"; cp "$JFK" "$T/libri/19/198/19-198-0001.wav"
printf '19-198-0000 AND SO MY FELLOW AMERICANS\n19-198-0001 ASK NOT\n19-198-0002 NO AUDIO HERE\n' >"$T/libri/19/198/19-198.trans.txt"
EV "$T/libri" --json "$T/l.json" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "19-198.trans.txt:3: no .flac or .wav" "$T/err"
if [ $? = 0 ]; then ok; else bad "librispeech: rc $rc $(cat "$T/err")"; fi
json_check "librispeech json" "$T/l.json" "j['dataset'] == 'librispeech' and j['scored'] == 2 and j['ref'] == 7"

# ---- TSV: path<TAB>reference, a path alone, undecodable audio
cp "$JFK" "$T/j.wav"; printf 'not audio at all' >"$T/bad.wav"
printf 'j.wav\t%s\nj.wav\nbad.wav\tsomething\n' "$REF" >"$T/set.tsv"
EV "$T/set.tsv" --json "$T/t.json" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "bad.wav" "$T/err"
if [ $? = 0 ]; then ok; else bad "tsv: rc $rc $(cat "$T/err")"; fi
json_check "tsv json" "$T/t.json" "j['dataset'] == 'tsv' and j['utterances'] == 3 and j['scored'] == 1 and j['failed'] == 1"

# ---- a folder of audio: transcribed, nothing to score
mkdir -p "$T/folder"; cp "$JFK" "$T/folder/x.wav"; cp "$JFK" "$T/folder/y.WAV"; echo hi >"$T/folder/notes.txt"
EV "$T/folder" --json "$T/f.json" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ "$(grep -c . "$T/out")" = 2 ]
if [ $? = 0 ]; then ok; else bad "folder: rc $rc $(cat "$T/out" "$T/err")"; fi
json_check "folder json" "$T/f.json" "j['dataset'] == 'folder' and j['utterances'] == 2 and j['scored'] == 0"

# ---- a missing dataset, an empty folder, bad options
EV "$T/nowhere" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "no such file or folder" "$T/out" && ok || bad "missing dataset: rc $rc $(cat "$T/out")"
mkdir -p "$T/empty"
EV "$T/empty" >"$T/out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "no usable audio" "$T/out" && ok || bad "empty dataset: rc $rc $(cat "$T/out")"
EV "$T/kaldi" --normalizer klingon >"$T/out" 2>&1; rc=$?
[ $rc = 2 ] && ok || bad "bad normalizer: rc $rc $(cat "$T/out")"
"$HARK" eval "$T/kaldi" >"$T/out" 2>&1; rc=$?
[ $rc = 2 ] && ok || bad "no model: rc $rc"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
