#!/usr/bin/env python3
"""Summarises dev/cuda/prof.sh CSVs: GPU time per kernel name, split into the encoder side and
one decoder step (steps start at the embedding kernel)."""
import csv, re, sys, pathlib, collections

def rows(path):
    lines = [l for l in open(path, errors="replace") if l.startswith('"')]
    rd = csv.DictReader(lines)
    for r in rd:
        v = r.get("gpu__time_duration.sum", "")
        try:
            yield r["Kernel Name"], float(v.replace(",", ""))
        except ValueError:
            continue

def short(n):
    n = re.sub(r"\(.*", "", n)
    return n[:70]

for p in sorted(pathlib.Path(sys.argv[1]).glob("prof-*.csv")):
    ks = list(rows(p))
    if not ks:
        print(p.name, "no kernels"); continue
    unit = 1e-3  # ns -> us
    steps, cur, enc = [], None, collections.Counter()
    for name, t in ks:
        if "embed" in name:
            cur = collections.Counter(); steps.append(cur)
        (cur if cur is not None else enc)[short(name)] += t * unit
    print(f"== {p.name}: {len(ks)} kernels, {len(steps)} steps")
    print(f"  before the first step (mel+encoder+cross K/V): {sum(enc.values())/1000:.3f} ms")
    for n, t in enc.most_common(12):
        print(f"    {t/1000:9.3f} ms  {n}")
    full = [s for s in steps[1:-1]] or steps
    if full:
        s = full[-1]
        tot = sum(s.values())
        print(f"  one decoder step (sum of kernel times): {tot/1000:.3f} ms")
        for n, t in s.most_common(14):
            print(f"    {t:9.1f} us  {n}")
