#!/usr/bin/env python3
"""The independent reference for hark's parity tests: Hugging Face transformers and tiktoken.

Runs on the device machine (python3 with torch, transformers, tiktoken, numpy); nothing of hark
is imported. Two jobs:

  goldens  --out tests/data
      tokenizer ids (tiktoken), log-mel of samples/jfk.wav (WhisperFeatureExtractor), and for the
      reduced random models (weights made here from the recipe in docs/format.md): encoder
      output, teacher-forced logits and a 100-step greedy sequence. Small files, committed.

  fullsize --arch tiny --hark build/hark --work /tmp/fs
      a full-size random model of a real architecture, saved by transformers (save_pretrained,
      safetensors) and as an OpenAI-layout checkpoint (torch.save of dims + model_state_dict);
      `hark convert` reads both, `hark forward` computes logits on the CPU, and they are compared
      with transformers' fp32 logits. Prints one PARITY line per source.

The random weights are computed from the recipe in docs/format.md (fnv1a64 + mix64 hash, role
scales, fp16 rounding), written again here in numpy from the document, not from hark's code.
"""
import argparse, json, math, os, subprocess, sys, wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "assets")
M64 = (1 << 64) - 1

ARCHS = {  # name: (n_mels, n_vocab, d, heads, enc_layers, dec_layers)
    "tiny": (80, 51865, 384, 6, 4, 4), "tiny.en": (80, 51864, 384, 6, 4, 4),
    "base": (80, 51865, 512, 8, 6, 6), "small": (80, 51865, 768, 12, 12, 12),
    "medium": (80, 51865, 1024, 16, 24, 24), "large-v2": (80, 51865, 1280, 20, 32, 32),
    "large-v3": (128, 51866, 1280, 20, 32, 32), "large-v3-turbo": (128, 51866, 1280, 20, 32, 4),
    "tiny-test": (80, 51865, 64, 2, 2, 2), "tiny-test.en": (80, 51864, 64, 2, 2, 2),
    "v3-test": (128, 51866, 64, 2, 2, 2), "nano-test": (80, 51865, 8, 2, 1, 1),
}


# ------------------------------------------------------------------ the weight recipe ----------
def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def mix64_int(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def mix64_np(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


def recipe_r(name, n, seed):
    """r[i] in [-1, 1) for i in 0..n-1, float64."""
    key = np.uint64(mix64_int((seed ^ fnv1a64(name)) & M64))
    out = np.empty(n, np.float64)
    step = 1 << 24
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            i = np.arange(a + 1, min(n, a + step) + 1, dtype=np.uint64)
            x = mix64_np(key + i * np.uint64(0x9e3779b97f4a7c15))
            out[a:a + len(i)] = (x >> np.uint64(40)).astype(np.float64) / float(1 << 24) * 2.0 - 1.0
    return out


def sinusoids(length, channels):
    inc = math.log(10000) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2, dtype=np.float64))
    t = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def recipe_tensor(name, shape, seed):
    n = int(np.prod(shape))
    if name == "model.encoder.embed_positions.weight":
        v = sinusoids(shape[0], shape[1]).reshape(-1)
    else:
        r = recipe_r(name, n, seed)
        if name.endswith("layer_norm.weight"):
            v = 1.0 + 0.1 * r
        elif name.endswith(".bias"):
            v = 0.02 * r
        elif name == "model.decoder.embed_tokens.weight":
            v = 0.05 * r
        elif name == "model.decoder.embed_positions.weight":
            v = 0.02 * r
        else:
            v = r / math.sqrt(int(np.prod(shape[1:])))
    return v.astype(np.float16).reshape(shape)


# ------------------------------------------------------------------ transformers models ---------
LANGS = ["en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi", "fi", "vi",
         "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk",
         "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
         "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
         "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"]


def specials(n_vocab):
    """openai/whisper tokenizer.py special-token layout for a vocabulary size."""
    base = 50256 if n_vocab == 51864 else 50257
    n_lang = 100 if n_vocab == 51866 else 99
    eot, sot = base, base + 1
    after = sot + 1 + n_lang
    return dict(eot=eot, sot=sot, lang0=sot + 1, n_lang=n_lang, translate=after, transcribe=after + 1,
                sot_lm=after + 2, sot_prev=after + 3, no_speech=after + 4, no_timestamps=after + 5,
                ts0=after + 6)


def hf_model(arch, seed, dtype="float32"):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    n_mels, n_vocab, d, h, le, ld = ARCHS[arch]
    sp = specials(n_vocab)
    cfg = WhisperConfig(vocab_size=n_vocab, num_mel_bins=n_mels, d_model=d, encoder_layers=le, decoder_layers=ld,
                        encoder_attention_heads=h, decoder_attention_heads=h, encoder_ffn_dim=4 * d,
                        decoder_ffn_dim=4 * d, max_source_positions=1500, max_target_positions=448,
                        decoder_start_token_id=sp["sot"], eos_token_id=sp["eot"], pad_token_id=sp["eot"],
                        bos_token_id=sp["eot"], activation_function="gelu", scale_embedding=False,
                        tie_word_embeddings=True)
    m = WhisperForConditionalGeneration(cfg).eval()
    sd = m.state_dict()
    new = {}
    for k, v in sd.items():
        if k == "proj_out.weight":
            continue
        new[k] = torch.from_numpy(recipe_tensor(k, tuple(v.shape), seed).astype(np.float32))
    missing, unexpected = m.load_state_dict(new, strict=False)
    assert set(missing) <= {"proj_out.weight"}, missing
    m.tie_weights()
    assert torch.equal(m.proj_out.weight, m.model.decoder.embed_tokens.weight)
    return m.to(getattr(torch, dtype)), sp


def openai_state_dict(m):
    """transformers' state dict renamed to openai/whisper model.py's layout (proj_out dropped:
    openai ties the output to the token embedding)."""
    ren = [("model.encoder.embed_positions.weight", "encoder.positional_embedding"),
           ("model.decoder.embed_positions.weight", "decoder.positional_embedding"),
           ("model.decoder.embed_tokens.weight", "decoder.token_embedding.weight"),
           ("model.encoder.layer_norm", "encoder.ln_post"), ("model.decoder.layer_norm", "decoder.ln"),
           ("model.encoder.", "encoder."), ("model.decoder.", "decoder."), ("layers.", "blocks."),
           ("self_attn_layer_norm", "attn_ln"), ("encoder_attn_layer_norm", "cross_attn_ln"),
           ("final_layer_norm", "mlp_ln"), ("self_attn.", "attn."), ("encoder_attn.", "cross_attn."),
           ("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("out_proj", "out"),
           ("fc1", "mlp.0"), ("fc2", "mlp.2")]
    osd = {}
    for k, v in m.state_dict().items():
        if k == "proj_out.weight":
            continue
        n = k
        for x, y in ren:
            n = n.replace(x, y)
        osd[n] = v.detach()
    return osd


def read_wav16(path):
    w = wave.open(path)
    assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == 16000
    return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def log_mel_hf(x, n_mels):
    from transformers import WhisperFeatureExtractor
    fe = WhisperFeatureExtractor(feature_size=n_mels)
    return fe(x, sampling_rate=16000, return_tensors="np").input_features[0].astype(np.float32)


def tiktoken_enc(name):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    ranks = load_tiktoken_bpe(os.path.join(ASSETS, f"{name}.tiktoken"))
    pat = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    return tiktoken.Encoding(name=name, pat_str=pat, mergeable_ranks=ranks, special_tokens={})


TEXT = " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def forward_logits(m, mel, tokens):
    import torch
    from transformers.modeling_outputs import BaseModelOutput
    dt = next(m.parameters()).dtype
    dev = next(m.parameters()).device
    with torch.no_grad():
        feats = torch.from_numpy(mel)[None].to(dev, dt)
        enc = m.model.encoder(feats).last_hidden_state
        out = m(encoder_outputs=BaseModelOutput(last_hidden_state=enc), decoder_input_ids=torch.tensor([tokens], device=dev))
    return enc[0].float().cpu().numpy(), out.logits[0].float().cpu().numpy()


def greedy(m, mel, prompt, steps):
    """Raw argmax, no suppression, full recompute per step (no cache: the plainest reference)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput
    toks = list(prompt)
    margins = []
    with torch.no_grad():
        feats = torch.from_numpy(mel)[None].to(next(m.parameters()).dtype)
        enc = m.model.encoder(feats).last_hidden_state
        for _ in range(steps):
            lg = m(encoder_outputs=BaseModelOutput(last_hidden_state=enc), decoder_input_ids=torch.tensor([toks])).logits[0, -1]
            top = torch.topk(lg, 2)
            margins.append(float(top.values[0] - top.values[1]))
            toks.append(int(top.indices[0]))
    return toks[len(prompt):], margins


# ------------------------------------------------------------------ jobs -----------------------
def job_goldens(a):
    import torch
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    # tokenizer
    cases = [json.loads(l) for l in open(os.path.join(ROOT, "dev/reference/tokenizer_cases.txt"), encoding="utf-8")
             if l.strip()]
    tok = {}
    for name in ("multilingual", "gpt2"):
        enc = tiktoken_enc(name)
        tok[name] = [{"text": t, "ids": enc.encode_ordinary(t)} for t in cases]
    with open(os.path.join(a.out, "tokenizer_golden.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=0)
    print("tokenizer:", len(cases), "cases")

    # log-mel
    x = read_wav16(os.path.join(ROOT, "samples/jfk.wav"))
    mels = {}
    for n in (80, 128):
        mels[n] = log_mel_hf(x, n)
        np.save(os.path.join(a.out, f"mel_jfk_{n}.npy"), mels[n])
    print("mel:", mels[80].shape, mels[128].shape)

    enc_ml = tiktoken_enc("multilingual")
    meta = {"seed": a.seed, "text": TEXT}
    # reduced random models in float64 on the CPU: the truth, not another float32 result
    for arch, rows in (("tiny-test", (0, 1, 3, 5, 12, -1)), ("v3-test", (3, -1)), ("tiny-test.en", ())):
        m, sp = hf_model(arch, a.seed, "float64")
        n_mels = ARCHS[arch][0]
        if arch.endswith(".en"):
            prompt = [sp["sot"], sp["no_timestamps"]]
            text_ids = tiktoken_enc("gpt2").encode_ordinary(TEXT)
        else:
            prompt = [sp["sot"], sp["lang0"], sp["transcribe"], sp["no_timestamps"]]
            text_ids = enc_ml.encode_ordinary(TEXT)
        tokens = prompt + text_ids
        enc, logits = forward_logits(m, mels[n_mels], tokens)
        rows_abs = [r % len(tokens) for r in rows]
        if arch == "tiny-test":
            np.save(os.path.join(a.out, f"{arch}_encoder.npy"), enc.astype(np.float32))
        if rows_abs:
            np.save(os.path.join(a.out, f"{arch}_logits.npy"), logits[rows_abs].astype(np.float32))
        g, margins = greedy(m, mels[n_mels], prompt, a.steps)
        meta[arch] = {"tokens": tokens, "logit_rows": rows_abs, "prompt": prompt, "greedy": g,
                      "greedy_min_margin": min(margins)}
        print(arch, "greedy:", g[:12], "... min top-2 margin", min(margins))
    with open(os.path.join(a.out, "model_golden.json"), "w") as f:
        json.dump(meta, f, indent=1)


def job_fullsize(a):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(a.work, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    m, sp = hf_model(a.arch, a.seed, "float32")
    n_mels, n_vocab, d, h, le, ld = ARCHS[a.arch]
    hf_dir = os.path.join(a.work, f"hf-{a.arch}")
    m.save_pretrained(hf_dir)  # config.json + model.safetensors
    # OpenAI layout: names as in openai/whisper model.py, fp16 as the official checkpoints
    osd = {k: v.to(torch.float16).clone() for k, v in openai_state_dict(m).items()}
    dims = dict(n_mels=n_mels, n_vocab=n_vocab, n_audio_ctx=1500, n_audio_state=d, n_audio_head=h,
                n_audio_layer=le, n_text_ctx=448, n_text_state=d, n_text_head=h, n_text_layer=ld)
    pt = os.path.join(a.work, f"{a.arch}.pt")
    torch.save({"dims": dims, "model_state_dict": osd}, pt)
    del osd
    x = read_wav16(os.path.join(ROOT, "samples/jfk.wav"))
    mel = log_mel_hf(x, n_mels)
    prompt = [sp["sot"], sp["no_timestamps"]] if n_vocab == 51864 else \
             [sp["sot"], sp["lang0"], sp["transcribe"], sp["no_timestamps"]]
    tokens = prompt + tiktoken_enc("gpt2" if n_vocab == 51864 else "multilingual").encode_ordinary(TEXT)[:12]
    m = m.to(dev)
    _, ref = forward_logits(m, mel, tokens)
    del m
    torch.cuda.empty_cache() if dev == "cuda" else None
    ok = True
    runs = [("safetensors", hf_dir, "cpu", None, 1e-3), ("pt", pt, "cpu", None, 1e-3)]
    if a.cuda:
        runs += [("pt", pt, "cuda:0", "f32", 1e-3), ("pt", pt, "cuda:0", "f16", 1e-2),
                 ("pt", pt, "cuda:0", "bf16", 3e-2)]
    converted = {}
    for src, path, device, dtype, gate in runs:
        out = os.path.join(a.work, f"{a.arch}-{src}.hark")
        if src not in converted:
            subprocess.run([a.hark, "convert", path, out], check=True)
            converted[src] = out
        lf = os.path.join(a.work, f"{a.arch}-{src}.logits")
        cmd = [a.hark, "forward", "-m", out, "--audio", os.path.join(ROOT, "samples/jfk.wav"),
               "--tokens", ",".join(map(str, tokens)), "--out", lf, "--device", device]
        if dtype:
            cmd += ["--dtype", dtype]
        subprocess.run(cmd, check=True)
        got = np.fromfile(lf, np.float32).reshape(ref.shape)
        err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        agree = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
        good = err <= gate and np.isfinite(got).all()
        ok &= good
        print(f"PARITY arch={a.arch} source={src} device={device} dtype={dtype or 'file'} rows={len(tokens)} "
              f"rel_err={err:.3e} gate={gate:g} top1_agree={agree:.3f} {'PASS' if good else 'FAIL'}", flush=True)
    for out in converted.values():
        os.remove(out)
    sys.exit(0 if ok else 1)


# ------------------------------------------------------------------ decoding semantics --------
def non_speech_tokens(enc, sp):
    """openai/whisper tokenizer.py non_speech_tokens, re-derived from its documented rule: the
    symbols below, with and without a leading space, kept when they encode to one token (or a
    first token for the listed multi-byte ones), plus " -" and " '"."""
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    miscellaneous = set("♩♪♫♬♭♮♯")
    result = {enc.encode_ordinary(" -")[0], enc.encode_ordinary(" '")[0]}
    for symbol in symbols + list(miscellaneous):
        for tokens in [enc.encode_ordinary(symbol), enc.encode_ordinary(" " + symbol)]:
            if len(tokens) == 1 or symbol in miscellaneous:
                result.add(tokens[0])
    return sorted(result)


def generation_config(n_vocab, enc):
    from transformers import GenerationConfig
    sp = specials(n_vocab)
    langs = LANGS[:sp["n_lang"]]
    # openai/whisper decoding.py _get_suppress_tokens for suppress_tokens="-1": the non-speech
    # set plus the task/control specials (real HF generation configs carry the same list)
    suppress = sorted(set(non_speech_tokens(enc, sp) + [sp["translate"], sp["transcribe"], sp["sot"],
                                                         sp["sot_prev"], sp["sot_lm"], sp["no_speech"]]))
    return GenerationConfig(
        decoder_start_token_id=sp["sot"], eos_token_id=sp["eot"], pad_token_id=sp["eot"],
        bos_token_id=sp["eot"], is_multilingual=n_vocab >= 51865,
        lang_to_id={f"<|{l}|>": sp["lang0"] + i for i, l in enumerate(langs)},
        task_to_id={"translate": sp["translate"], "transcribe": sp["transcribe"]},
        no_timestamps_token_id=sp["no_timestamps"], prev_sot_token_id=sp["sot_prev"],
        max_initial_timestamp_index=50, max_length=448,
        begin_suppress_tokens=[enc.encode_ordinary(" ")[0], sp["eot"]], suppress_tokens=suppress,
        alignment_heads=[[1, 0], [1, 1]]), suppress


def job_decode(a):
    """Goldens of transformers' generate (the openai/whisper algorithm) on reduced random
    models: language detection, greedy with timestamps, beam search 5, translate, long-form."""
    import torch
    from transformers import WhisperFeatureExtractor
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = {"seed": a.seed}
    jfk = read_wav16(os.path.join(ROOT, "samples/jfk.wav"))
    longa = np.concatenate([jfk, np.zeros(8000, np.float32), jfk[::-1].copy(), jfk])  # 33.5 s
    np.save(os.path.join(a.out, "decode_long_audio_len.npy"), np.array([len(longa)], np.int32))
    path = os.path.join(a.out, "decode_golden.json")
    if os.path.exists(path):  # other architectures' goldens stay
        out = json.load(open(path))
        out["seed"] = a.seed
    for arch in a.archs.split(","):
        m, sp = hf_model(arch, a.seed, "float32")
        enc = tiktoken_enc("multilingual")
        m.generation_config, suppress = generation_config(ARCHS[arch][1], enc)
        fe = WhisperFeatureExtractor(feature_size=ARCHS[arch][0])
        f = fe(jfk, sampling_rate=16000, return_tensors="pt").input_features
        r = {"suppress_tokens": suppress}
        with torch.no_grad():
            enc_out = m.model.encoder(f).last_hidden_state
            from transformers.modeling_outputs import BaseModelOutput
            lg = m(encoder_outputs=BaseModelOutput(last_hidden_state=enc_out),
                   decoder_input_ids=torch.tensor([[sp["sot"]]])).logits[0, -1].double()
            lang_ids = list(range(sp["lang0"], sp["lang0"] + sp["n_lang"]))
            mask = torch.full_like(lg, float("-inf"))
            mask[lang_ids] = 0
            probs = torch.softmax(lg + mask, -1)[lang_ids]
            r["language_probs"] = [float(p) for p in probs]
            r["language"] = LANGS[int(torch.argmax(probs))]
            g = m.generate(f, language="en", task="transcribe", return_timestamps=True, max_new_tokens=100)
            r["greedy_timestamps"] = g[0].tolist()
            g = m.generate(f, language="en", task="transcribe", return_timestamps=False, max_new_tokens=60)
            r["greedy_notimestamps"] = g[0].tolist()
            g = m.generate(f, language="en", task="translate", return_timestamps=True, max_new_tokens=60)
            r["translate_timestamps"] = g[0].tolist()
            g = m.generate(f, language="en", task="transcribe", return_timestamps=True, num_beams=5,
                           max_new_tokens=60)
            r["beam5_timestamps"] = g[0].tolist()
            fl = fe(longa, sampling_rate=16000, return_tensors="pt", truncation=False, padding="longest",
                    return_attention_mask=True)
            o = m.generate(fl.input_features, attention_mask=fl.attention_mask, language="en",
                           task="transcribe", return_timestamps=True, return_segments=True,
                           temperature=0.0, condition_on_prev_tokens=False)
            segs = o["segments"][0]
            r["longform_segments"] = [{"start": float(s["start"]), "end": float(s["end"]),
                                       "tokens": [int(t) for t in s["tokens"]]} for s in segs]
            r["longform_sequence"] = o["sequences"][0].tolist()
        out[arch] = r
        print(arch, "language", r["language"], "greedy", r["greedy_timestamps"][:10], "segments",
              len(r["longform_segments"]), flush=True)
    with open(os.path.join(a.out, "decode_golden.json"), "w") as fh:
        json.dump(out, fh, indent=0)


def job_timing(a):
    """Word-timestamp goldens: transformers' _median_filter and _dynamic_time_warping (the same
    algorithms as openai/whisper timing.py) on seeded random inputs, and the alignment matrix and
    DTW path of a reduced model's cross-attention (output_attentions, eager attention) over
    [sot, en, transcribe, notimestamps, text, eot], normalised as timing.py find_alignment does
    (softmax over the window's first num_frames // 2 frames, per-frame standardisation over the
    tokens, median filter 7, mean over the alignment heads)."""
    import torch
    from transformers.models.whisper.generation_whisper import _dynamic_time_warping, _median_filter
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(a.seed)
    out = {"seed": a.seed, "medfilt": [], "dtw": []}
    for shape, width in (((2, 3, 40), 7), ((1, 4, 9), 3), ((1, 2, 3), 7), ((1, 1, 4), 7), ((2, 2, 17), 5)):
        x = rng.standard_normal(shape).astype(np.float32)
        x[0, 0, 1] = x[0, 0, 2]  # a tie
        y = _median_filter(torch.from_numpy(x), width).numpy()
        out["medfilt"].append({"shape": list(shape), "width": width, "x": x.ravel().tolist(),
                               "y": y.ravel().tolist()})
    for shape in ((4, 9), (12, 60), (30, 200), (1, 5), (6, 6)):
        x = rng.standard_normal(shape).astype(np.float32)
        ti, tj = _dynamic_time_warping(x.astype(np.float64))
        out["dtw"].append({"shape": list(shape), "x": x.ravel().tolist(),
                           "text": [int(v) for v in ti], "time": [int(v) for v in tj]})
    x = rng.integers(0, 3, (8, 20)).astype(np.float32)  # many ties
    ti, tj = _dynamic_time_warping(x.astype(np.float64))
    out["dtw"].append({"shape": [8, 20], "x": x.ravel().tolist(), "text": [int(v) for v in ti],
                       "time": [int(v) for v in tj]})

    arch = "tiny-test"
    m, sp = hf_model(arch, a.seed, "float32")
    m.config._attn_implementation = "eager"
    for mod in m.modules():
        if hasattr(mod, "config") and hasattr(mod.config, "_attn_implementation"):
            mod.config._attn_implementation = "eager"
    enc = tiktoken_enc("multilingual")
    text = enc.encode(TEXT)[:24]
    sot_seq = [sp["sot"], sp["lang0"], sp["transcribe"]]  # sot, en, transcribe
    tokens = sot_seq + [sp["no_timestamps"]] + text + [sp["eot"]]
    n_layers, n_heads = ARCHS[arch][5], ARCHS[arch][3]
    heads = [[l, h] for l in range(n_layers // 2, n_layers) for h in range(n_heads)]
    jfk = read_wav16(os.path.join(ROOT, "samples/jfk.wav"))
    mel = log_mel_hf(jfk, ARCHS[arch][0])
    from transformers.modeling_outputs import BaseModelOutput
    with torch.no_grad():
        feats = torch.from_numpy(mel)[None]
        enc_out = m.model.encoder(feats).last_hidden_state
        o = m(encoder_outputs=BaseModelOutput(last_hidden_state=enc_out),
              decoder_input_ids=torch.tensor([tokens]), output_attentions=True)
    logits = o.logits[0].double()
    probs = torch.softmax(logits[len(sot_seq):, :sp["eot"]], -1)
    text_probs = [float(probs[i, t]) for i, t in enumerate(text)]
    ca = o.cross_attentions
    al = {"arch": arch, "tokens": tokens, "heads": heads, "n_sot": len(sot_seq),
          "text_probs": text_probs, "cases": []}
    for num_frames in (3000, 1100, 13):
        nf = num_frames // 2
        w = torch.stack([ca[l][0, h] for l, h in heads]).double()  # [heads, tokens, 1500]
        w = w[:, :, :nf]
        w = w / w.sum(-1, keepdim=True)  # softmax of the scores over the first nf frames
        std, mean = torch.std_mean(w, dim=-2, keepdim=True, unbiased=False)
        w = (w - mean) / std
        w = _median_filter(w.float(), 7)
        matrix = w.mean(0)
        ti, tj = _dynamic_time_warping(-matrix[len(sot_seq):-1].double().numpy())
        jumps = np.pad(np.diff(np.array(ti)), (1, 0), constant_values=1).astype(bool)
        jump_times = (np.array(tj)[jumps] / 50.0).tolist()
        np.save(os.path.join(a.out, f"timing_matrix_{num_frames}.npy"), matrix.numpy().astype(np.float32))
        al["cases"].append({"num_frames": num_frames, "text": [int(v) for v in ti],
                            "time": [int(v) for v in tj], "jump_times": jump_times})
        print("alignment", num_frames, "jumps", jump_times[:8], flush=True)
    out["alignment"] = al
    with open(os.path.join(a.out, "timing_golden.json"), "w") as fh:
        json.dump(out, fh)


def main():
    p = argparse.ArgumentParser()
    s = p.add_subparsers(dest="job", required=True)
    g = s.add_parser("goldens"); g.add_argument("--out", default=os.path.join(ROOT, "tests/data"))
    g.add_argument("--seed", type=int, default=1); g.add_argument("--steps", type=int, default=100)
    f = s.add_parser("fullsize"); f.add_argument("--arch", required=True); f.add_argument("--hark", required=True)
    f.add_argument("--work", default="/tmp/fs"); f.add_argument("--seed", type=int, default=1)
    f.add_argument("--cuda", action="store_true", help="also hark's CUDA backend (f32, f16, bf16)")
    d = s.add_parser("decode"); d.add_argument("--out", default=os.path.join(ROOT, "tests/data"))
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--archs", default="tiny-test,v3-test", help="e.g. tiny (full size) too")
    t = s.add_parser("timing"); t.add_argument("--out", default=os.path.join(ROOT, "tests/data"))
    t.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    {"goldens": job_goldens, "fullsize": job_fullsize, "decode": job_decode,
     "timing": job_timing}[a.job](a)


if __name__ == "__main__":
    main()
