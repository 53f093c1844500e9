#!/usr/bin/env bash
# `hark wer`: its counts against NIST sclite (Debian's sctk) on the shared reference transcripts
# with synthetic hypotheses (seeded substitutions, insertions, deletions), utterance by utterance;
# openai/whisper's BasicTextNormalizer on a table of cases (expected outputs follow basic.py's
# rules); character error rate for Chinese; bad input.
set -u
HARK=${1:-./build/hark}
case $HARK in /*) ;; *) HARK=$PWD/$HARK ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

if ! "$HARK" --help 2>&1 | grep -q "wer REF HYP"; then
  echo "hark was built without 'hark wer' (utf8proc missing): skipped"
  echo "0 passed, 0 failed"
  exit 0
fi

# ---- the normalizer: input -> expected (ref: openai/whisper normalizers/basic.py)
norm_case() { # norm_case NAME EXPECTED TEXT [--remove-diacritics]
  local got
  got=$("$HARK" wer --normalize "$3" ${4:-} 2>&1)
  if [ "$got" = "[$2]" ]; then ok; else bad "normalize $1: got $got, want [$2]"; fi
}
norm_case "punctuation" "hello world " "Hello, World!"
norm_case "brackets and parentheses" " hi there you" "[MUSIC] hi <noise> there (laughs) you"
norm_case "bracket runs to the first closer" " b" "[a> b"
norm_case "empty parentheses stay as symbols" "a b" "a()b"
norm_case "diacritics kept" "café ß" "Café ß"
norm_case "diacritics removed" "cafe ss" "Café ß" --remove-diacritics
norm_case "ligature and fraction (NFKC)" "five 1 2" "ﬁve ½"
norm_case "quotes and dashes" " quoted dash" "“Quoted” — dash"
norm_case "Chinese punctuation" "你好 世界 " "你好，世界。"
norm_case "whitespace runs" " a b " $'  a \t b  \u00a0'

norm_case "symbols" "5 cats" "5 cats"
norm_case "currency and percent" " 5 10 " "\$5 10%"

# English (ref: openai/whisper normalizers/english.py): numbers, currency, contractions, titles,
# fillers, British spellings
norm_case "en: numbers" "21 is 101 the 5th at 10% in 1999 or 2005" "twenty one is one oh one the fifth at ten percent. in nineteen ninety nine or two thousand and five" --english
norm_case "en: number words run together, as the reference does" "211015th" "twenty one, one oh one, fifth" --english
norm_case "en: money" "\$20000000 or \$2500000 or ¢50 or \$3.07 or \$5.50" "\$20 million or two and a half million dollars or 50 cents or three dollars and seven cents or \$5.50" --english
norm_case "en: contractions and titles" "mister smith i will not it has been doctor smith is" "Mr Smith: I won't. It's been... Dr. Smith's" --english
norm_case "en: fillers, spellings, one" "yes the color one" "Um, hmm, yes: the colour one" --english
norm_case "en: digits" "1000000 3.14 the 1960s" "1,000,000 3.14 the 1960s" --english
norm_case "en: and a half" "2.5 hours or cake and a half" "two and a half hours or cake and a half" --english

# the reference's own outputs (tests/data/normalizer_cases.tsv: 302 inputs through openai-whisper
# 20250625's normalizers): every one, for the English, basic and basic-without-diacritics ones
CASES=$SRC/tests/data/normalizer_cases.tsv
grep -v '^#' "$CASES" | cut -f1 >"$T/in"
for col in 2:--english 3:--basic 4:--remove-diacritics; do
  "$HARK" wer --normalize-file "$T/in" "${col#*:}" >"$T/got" 2>&1
  grep -v '^#' "$CASES" | cut -f"${col%%:*}" | sed 's/^/[/; s/$/]/' >"$T/want"
  n=$(diff "$T/want" "$T/got" | grep -c '^<')
  if [ "$n" = 0 ] && [ "$(wc -l <"$T/got")" = 302 ]; then ok
  else bad "normalizer ${col#*:}: $n of 302 differ from the reference: $(diff "$T/want" "$T/got" | head -6)"; fi
done

# ---- counts against sclite
have_sclite=1
command -v sctk >/dev/null 2>&1 || have_sclite=0
python3 - "$SRC/../shared/data/audio" "$T" <<'EOF'
import os, random, sys
base, out = sys.argv[1], sys.argv[2]
refs = []
for path in ['triton-asr-client/mini_en/trans.txt', 'wenet-test-resources/text',
             'openai-whisper/trans.txt', 'faster-whisper-tests/trans.txt',
             'whisper.cpp-samples/trans.txt', 'ctranslate2-tests/trans.txt']:
    p = os.path.join(base, path)
    if os.path.exists(p):
        for line in open(p, encoding='utf-8'):
            parts = line.replace('\t', ' ').split(' ', 1)
            if len(parts) == 2 and parts[1].strip():
                refs.append(parts[1].strip().lower())
if len(refs) < 5:  # without ../shared: a few sentences of our own
    refs = ['the quick brown fox jumps over the lazy dog', 'ask not what your country can do',
            'a b c d e f g', 'one two three four five six', 'it was the best of times']
rng = random.Random(7)
vocab = sorted({w for r in refs for w in r.split()})
with open(out + '/ref.trn', 'w') as rt, open(out + '/hyp.trn', 'w') as ht, \
     open(out + '/ref.tsv', 'w') as rs, open(out + '/hyp.tsv', 'w') as hs:
    for k in range(240):
        words = refs[k % len(refs)].split()
        hyp = []
        for w in words:
            x = rng.random()
            if x < 0.08: continue                              # deletion
            hyp.append(rng.choice(vocab) if x < 0.18 else w)   # substitution
            if rng.random() < 0.06: hyp.append(rng.choice(vocab))  # insertion
        if k % 37 == 5: hyp = []                               # everything deleted
        uid = 'u%03d' % k
        rt.write(' '.join(words) + ' (%s)\n' % uid); ht.write(' '.join(hyp) + ' (%s)\n' % uid)
        rs.write(uid + '\t' + ' '.join(words) + '\n'); hs.write(uid + '\t' + ' '.join(hyp) + '\n')
EOF
"$HARK" wer "$T/ref.tsv" "$T/hyp.tsv" --normalizer none --metric wer --json "$T/hark.json" >"$T/out" 2>&1
if [ $? = 0 ] && grep -q "^WER" "$T/out"; then ok; else bad "hark wer: $(cat "$T/out")"; fi
# the trn form reads the same
"$HARK" wer "$T/ref.trn" "$T/hyp.trn" --normalizer none --metric wer --json "$T/hark2.json" >/dev/null 2>&1
if cmp -s "$T/hark.json" "$T/hark2.json"; then ok; else bad "trn and tsv forms differ"; fi
if [ $have_sclite = 1 ]; then
  (cd "$T" && sctk sclite -r ref.trn trn -h hyp.trn trn -i spu_id -o pra stdout 2>/dev/null) |
    grep "^Scores:" | sed 's/.*) //' >"$T/sclite.txt"
  python3 - "$T/hark.json" "$T/sclite.txt" <<'EOF' >"$T/cmp" 2>&1
import json, sys
h = json.load(open(sys.argv[1]))['per_utterance']
s = [tuple(map(int, l.split())) for l in open(sys.argv[2])]
assert len(h) == len(s) == 240, (len(h), len(s))
diff = [(u['id'], (u['cor'], u['sub'], u['del'], u['ins']), t) for u, t in zip(h, s)
        if (u['cor'], u['sub'], u['del'], u['ins']) != t]
assert not diff, diff[:5]
tot = [sum(t[i] for t in s) for i in range(4)]
print('ok', len(s), 'utterances identical to sclite; C S D I', tot)
EOF
  if [ $? = 0 ]; then ok; cat "$T/cmp"; else bad "against sclite: $(cat "$T/cmp")"; fi
else
  echo "sclite (sctk) not installed: the comparison is skipped"
fi

# ---- character error rate for Chinese (auto), by hand: C 4, D 1, I 1 of 5 characters
printf 'wav_0\t大学生利用\n' >"$T/zr"; printf 'wav_0\t大学利用漏\n' >"$T/zh"
"$HARK" wer "$T/zr" "$T/zh" --json "$T/zj" >"$T/out" 2>&1
if grep -q "^CER 40.00%" "$T/out" && grep -q '"cor":4,"sub":0,"del":1,"ins":1' "$T/zj"; then ok
else bad "CER: $(cat "$T/out" "$T/zj")"; fi
# normalization on by default (English references: the English normalizer)
printf 'a\tMr. Smith paid twenty dollars for the colour TV.\n' >"$T/re"; printf 'a mister smith paid $20 for the color tv\n' >"$T/he"
"$HARK" wer "$T/re" "$T/he" >"$T/out" 2>&1
if grep -q "^WER 0.00%" "$T/out"; then ok; else bad "English WER: $(cat "$T/out")"; fi
"$HARK" wer "$T/re" "$T/he" --normalizer basic >"$T/out" 2>&1
if grep -q "^WER 44.44%" "$T/out"; then ok; else bad "basic WER: $(cat "$T/out")"; fi
printf 'a\tHello, World!\n' >"$T/r1"; printf 'a hello world\n' >"$T/h1"
"$HARK" wer "$T/r1" "$T/h1" >"$T/out" 2>&1
if grep -q "^WER 0.00%" "$T/out"; then ok; else bad "normalized WER: $(cat "$T/out")"; fi
"$HARK" wer "$T/r1" "$T/h1" --normalizer none >"$T/out" 2>&1
if grep -q "^WER 100.00%" "$T/out"; then ok; else bad "unnormalized WER: $(cat "$T/out")"; fi

# ---- bad input: clear messages and exit codes
"$HARK" wer "$T/missing" "$T/h1" >"$T/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "cannot read" "$T/out"; then ok; else bad "missing file: rc $rc $(cat "$T/out")"; fi
printf 'a\tok\n   (\nb\tfine\n' >"$T/r2"; printf '(x) text\n' >>"$T/r2"
printf '\t no id here\n' >"$T/r3"
"$HARK" wer "$T/r3" "$T/h1" >"$T/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q ":1: no utterance id" "$T/out"; then ok; else bad "no id: rc $rc $(cat "$T/out")"; fi
printf 'a\t\xff\xfe bad\n' >"$T/r4"
"$HARK" wer "$T/r4" "$T/h1" >"$T/out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "UTF-8" "$T/out"; then ok; else bad "not UTF-8: rc $rc $(cat "$T/out")"; fi
printf 'a\thello world\nb\tsecond one\n' >"$T/r5"
"$HARK" wer "$T/r5" "$T/h1" >"$T/out" 2>&1; rc=$?
if [ $rc = 0 ] && grep -q "1 references have no hypothesis" "$T/out" && grep -q "WER 50.00%" "$T/out"; then ok
else bad "missing hypothesis: rc $rc $(cat "$T/out")"; fi
"$HARK" wer "$T/r5" "$T/h1" --metric bogus >"$T/out" 2>&1; rc=$?
if [ $rc = 2 ]; then ok; else bad "bad --metric: rc $rc"; fi
"$HARK" wer "$T/r5" "$T/h1" --alignments >"$T/out" 2>&1
if grep -q "^REF:" "$T/out" && grep -q "^Eval:" "$T/out" && grep -q "\*\*\*" "$T/out"; then ok
else bad "alignments: $(cat "$T/out")"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
