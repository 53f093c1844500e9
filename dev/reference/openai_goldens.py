#!/usr/bin/env python3
"""Goldens from openai/whisper itself: its transcribe() (beam search, the seek loop with the
previous text as prompt, word timestamps, hallucination_silence_threshold, clip_timestamps,
prefix, carry_initial_prompt) on random-weight models made from the recipe in docs/format.md.

openai/whisper is not installed on the device machine and cannot be fetched there: pass a copy of
its source (the `whisper` package folder of github.com/openai/whisper, MIT licence) in a
git-ignored folder, e.g. .dev/openai/whisper, and carry .dev. Nothing of it is in hark. numba
(used only as a JIT decorator in timing.py) is replaced by a no-op; the run is on the CPU in
float32, so the DTW is the plain-Python dtw_cpu.

  python3 dev/reference/openai_goldens.py --whisper .dev/openai --out tests/data
"""
import argparse, json, os, sys, types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens as mg  # noqa: E402  (the weight recipe, models, audio)


def stub_numba():
    nb = types.ModuleType("numba")
    nb.jit = lambda *a, **k: (lambda f: f)
    sys.modules["numba"] = nb


def openai_model(whisper, arch, seed):
    import torch
    m, sp = mg.hf_model(arch, seed, "float32")
    n_mels, n_vocab, d, h, le, ld = mg.ARCHS[arch]
    sd = {k: v.float().clone() for k, v in mg.openai_state_dict(m).items()}
    from whisper.model import ModelDimensions, Whisper
    dims = ModelDimensions(n_mels=n_mels, n_vocab=n_vocab, n_audio_ctx=1500, n_audio_state=d,
                           n_audio_head=h, n_audio_layer=le, n_text_ctx=448, n_text_state=d,
                           n_text_head=h, n_text_layer=ld)
    w = Whisper(dims)
    w.load_state_dict(sd)
    if arch in whisper._ALIGNMENT_HEADS:
        w.set_alignment_heads(whisper._ALIGNMENT_HEADS[arch])
    return w.eval()


CASES = {  # name: (audio, options)
    "beam5": ("jfk", dict(language="en", beam_size=5)),
    "beam5_long": ("long", dict(language="en", beam_size=5)),
    "greedy_long": ("long", dict(language="en")),
    "words_long": ("long", dict(language="en", word_timestamps=True)),
    "words_hallucination": ("long", dict(language="en", word_timestamps=True,
                                         hallucination_silence_threshold=1.0)),
    "clips": ("long", dict(language="en", clip_timestamps="2,6,8")),
    "clips_words": ("long", dict(language="en", clip_timestamps="2,6,8", word_timestamps=True)),
    "words_hallucination_5": ("long", dict(language="en", word_timestamps=True,
                                           hallucination_silence_threshold=5.0)),
    "words_hallucination_0": ("long", dict(language="en", word_timestamps=True,
                                           hallucination_silence_threshold=0.0)),
    "words_one_frame": ("jfk", dict(language="en", word_timestamps=True, clip_timestamps="0,0.01")),
    "prefix": ("jfk", dict(language="en", prefix="And so my")),
    "prompt_carry": ("long", dict(language="en", initial_prompt="Ask not",
                                  carry_initial_prompt=True)),
    "translate_words": ("jfk", dict(language="en", task="translate", word_timestamps=True)),
    "detect": ("jfk", dict()),
}
PER_ARCH = {"tiny-test": list(CASES),
            "v3-test": ["beam5", "words_long", "greedy_long", "words_hallucination_5"],
            "tiny": ["beam5", "words_long", "greedy_long", "words_hallucination_5"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--whisper", default=".dev/openai", help="folder holding openai's whisper package")
    p.add_argument("--out", default=os.path.join(mg.ROOT, "tests/data"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--archs", default="tiny-test,v3-test,tiny")
    a = p.parse_args()
    stub_numba()
    sys.path.insert(0, os.path.abspath(a.whisper))
    import torch
    import whisper
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    jfk = mg.read_wav16(os.path.join(mg.ROOT, "samples/jfk.wav"))
    longa = np.concatenate([jfk, np.zeros(8000, np.float32), jfk[::-1].copy(), jfk])
    audio = {"jfk": jfk, "long": longa}
    out = {"seed": a.seed, "whisper_version": whisper.__version__, "cases": {}}
    for arch in a.archs.split(","):
        model = openai_model(whisper, arch, a.seed)
        res = {}
        for name in PER_ARCH[arch]:
            src, opts = CASES[name]
            r = whisper.transcribe(model, audio[src], temperature=0.0, fp16=False, verbose=None,
                                   **opts)
            segs = []
            for s in r["segments"]:
                g = {k: s[k] for k in ("seek", "start", "end", "tokens", "temperature", "avg_logprob",
                                       "compression_ratio", "no_speech_prob", "text")}
                g["start"], g["end"] = float(g["start"]), float(g["end"])
                g["tokens"] = [int(t) for t in g["tokens"]]
                if "words" in s:
                    g["words"] = [{"word": w["word"], "start": float(w["start"]),
                                   "end": float(w["end"]), "probability": float(w["probability"])}
                                  for w in s["words"]]
                segs.append(g)
            res[name] = {"audio": src, "options": opts, "language": r["language"],
                         "text": r["text"], "segments": segs}
            print(arch, name, len(segs), "segments", repr(r["text"][:60]), flush=True)
        out["cases"][arch] = res
    with open(os.path.join(a.out, "openai_golden.json"), "w") as fh:
        json.dump(out, fh, indent=0, ensure_ascii=False)


if __name__ == "__main__":
    main()
