#!/usr/bin/env python3
"""Load client for `hark serve` (stdlib only, runs on the GPU machine too): C concurrent clients
send K requests in total, each one 30 s window as the seed's Triton client sends it (KServe v2
HTTP, binary tensors: WAV [1, 480000] FP32, WAV_LENS [1, 1] INT32, TEXT_PREFIX [1, 1] BYTES).
Prints one JSON line: concurrency, requests, wall seconds, RTFx (audio seconds / wall), latency
mean/p50/p90/p99, errors. With --protocol grpc (needs the grpcio package) the same tensors go as
a KServe v2 ModelInfer over gRPC, raw_input_contents, one channel per client; URL is host:port.
  python3 dev/serve/load.py URL WAV --concurrency 1,8,64 --requests 64"""
import argparse, json, struct, threading, time, urllib.request, wave

ap = argparse.ArgumentParser()
ap.add_argument('url')
ap.add_argument('wav')
ap.add_argument('--concurrency', default='1,8,64')
ap.add_argument('--requests', type=int, default=64)
ap.add_argument('--protocol', choices=['http', 'grpc'], default='http')
ap.add_argument('--warmup', type=int, default=1,
                help='untimed waves (C requests each) at each concurrency C before its timed run')
a = ap.parse_args()
if a.protocol == 'grpc':
    try:
        import grpc
    except ImportError:
        raise SystemExit('load.py: --protocol grpc needs the grpcio package')

w = wave.open(a.wav)
raw = w.readframes(w.getnframes())
pcm = list(struct.unpack('<%dh' % (len(raw) // 2), raw))
N = 480000
tiled = (pcm * (N // len(pcm) + 1))[:N]
samples = [x / 32768.0 for x in tiled]
pre = b'<|startoftranscript|><|en|><|transcribe|><|notimestamps|>'
hdr = json.dumps({"inputs": [
    {"name": "WAV", "shape": [1, N], "datatype": "FP32", "parameters": {"binary_data_size": 4 * N}},
    {"name": "WAV_LENS", "shape": [1, 1], "datatype": "INT32", "parameters": {"binary_data_size": 4}},
    {"name": "TEXT_PREFIX", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": 4 + len(pre)}}],
    "outputs": [{"name": "TRANSCRIPTS", "parameters": {"binary_data": True}}]}).encode()
body = hdr + struct.pack('<%df' % N, *samples) + struct.pack('<i', N) + struct.pack('<I', len(pre)) + pre
headers = {'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': str(len(hdr))}

# protobuf wire format by hand (field numbers from the KServe v2 gRPC schema), so that only
# grpcio is needed
def varint(v):
    out = b''
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def fld(num, payload):  # a length-delimited field
    return varint(num << 3 | 2) + varint(len(payload)) + payload
def tensor(name, dt, shape):
    return fld(1, name.encode()) + fld(2, dt.encode()) + fld(3, b''.join(varint(d) for d in shape))
grpc_req = (fld(1, b'whisper') + fld(5, tensor('WAV', 'FP32', [1, N])) +
            fld(5, tensor('WAV_LENS', 'INT32', [1, 1])) + fld(5, tensor('TEXT_PREFIX', 'BYTES', [1, 1])) +
            fld(6, fld(1, b'TRANSCRIPTS')) + fld(7, struct.pack('<%df' % N, *samples)) +
            fld(7, struct.pack('<i', N)) + fld(7, struct.pack('<I', len(pre)) + pre))
local = threading.local()

def one_grpc():
    if not hasattr(local, 'call'):
        ch = grpc.insecure_channel(a.url, options=[('grpc.max_send_message_length', -1),
                                                   ('grpc.max_receive_message_length', -1)])
        local.call = ch.unary_unary('/inference.GRPCInferenceService/ModelInfer')
    t = time.time()
    try:
        r = local.call(grpc_req, timeout=600)
        return time.time() - t, 200 if len(r) > 0 else -2
    except grpc.RpcError as e:
        return time.time() - t, str(e.code())

def one():
    if a.protocol == 'grpc':
        return one_grpc()
    t = time.time()
    rq = urllib.request.Request(a.url + '/v2/models/whisper/infer', data=body, headers=headers, method='POST')
    try:
        r = urllib.request.urlopen(rq, timeout=600)
        r.read()
        return time.time() - t, r.status
    except urllib.error.HTTPError as e:
        return time.time() - t, e.code
    except Exception:
        return time.time() - t, -1

def run(c, n):
    lock = threading.Lock()
    todo = [n]
    lat, errs = [], []
    def worker():
        while True:
            with lock:
                if todo[0] == 0:
                    return
                todo[0] -= 1
            dt, st = one()
            with lock:
                (lat if st == 200 else errs).append(dt if st == 200 else st)
    t0 = time.time()
    th = [threading.Thread(target=worker) for _ in range(c)]
    for t in th: t.start()
    for t in th: t.join()
    return time.time() - t0, lat, errs

for c in [int(x) for x in a.concurrency.split(',')]:
    if a.warmup:
        run(c, a.warmup * c)
    wall, lat, errs = run(c, a.requests)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None
    print(json.dumps({"concurrency": c, "requests": a.requests, "ok": len(lat), "errors": errs[:5],
                      "wall_s": round(wall, 3), "rtfx": round(30.0 * len(lat) / wall, 1),
                      "lat_mean_s": round(sum(lat) / len(lat), 4) if lat else None,
                      "p50_s": q(0.5), "p90_s": q(0.9), "p99_s": q(0.99)}), flush=True)
