// @grpc/grpc-js with the OFFICIAL KServe / Triton schema (grpc_service.proto of the published
// protocol, loaded by @grpc/proto-loader) against `hark serve`'s gRPC port: every method hark
// serves, the seed's ModelInfer (WAV [B, N] FP32 padded, WAV_LENS [B, 1] INT32, TEXT_PREFIX
// [B, 1] BYTES, raw_input_contents) and typed contents, ModelStreamInfer's partial and final
// responses, and errors as gRPC status codes.
// Usage: node grpc_test.mjs HOST:PORT PROTO_DIR AUDIO_WAV. One "ok ..." / "FAIL ..." per check.
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const [target, protoDir, wavPath] = process.argv.slice(2);
const def = protoLoader.loadSync('grpc_service.proto', {
  includeDirs: [protoDir], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const pkg = grpc.loadPackageDefinition(def).inference;
const client = new pkg.GRPCInferenceService(target, grpc.credentials.createInsecure(),
  { 'grpc.max_send_message_length': 64 << 20, 'grpc.max_receive_message_length': 64 << 20 });

function check(name, cond, detail) {
  console.log(cond ? `ok ${name}` : `FAIL ${name}: ${detail ?? ''}`);
}
const call = (method, req, opts = {}) => new Promise((resolve) => {
  client[method](req, new grpc.Metadata(), { deadline: Date.now() + 120000, ...opts },
    (err, res) => resolve({ err, res }));
});

// 16-bit PCM WAV -> float samples
function readWav(path) {
  const b = fs.readFileSync(path);
  let off = 12, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    if (id === 'data') { data = b.subarray(off + 8, off + 8 + size); break; }
    off += 8 + size + (size & 1);
  }
  const out = new Float32Array(data.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(2 * i) / 32768;
  return out;
}
const bytesElements = (buf) => {
  const out = [];
  for (let o = 0; o < buf.length;) { const l = buf.readUInt32LE(o); out.push(buf.toString('utf8', o + 4, o + 4 + l)); o += 4 + l; }
  return out;
};
const bytesTensor = (strings) => Buffer.concat(strings.flatMap((s) => {
  const b = Buffer.from(s, 'utf8'), l = Buffer.alloc(4); l.writeUInt32LE(b.length); return [l, b];
}));

const pcm = readWav(wavPath);
const PRE = '<|startoftranscript|><|en|><|transcribe|><|notimestamps|>';

let r = await call('ServerLive', {});
check('ServerLive', !r.err && r.res.live === true, r.err?.message);
r = await call('ServerReady', {});
check('ServerReady', !r.err && r.res.ready === true, r.err?.message);
r = await call('ModelReady', { name: 'whisper', version: '' });
check('ModelReady', !r.err && r.res.ready === true, r.err?.message);
r = await call('ServerMetadata', {});
check('ServerMetadata', !r.err && r.res.name === 'hark' && r.res.extensions.length > 0, r.err?.message);
r = await call('ModelMetadata', { name: 'whisper_bls', version: '' });
check('ModelMetadata', !r.err && r.res.inputs.some((t) => t.name === 'WAV') &&
      r.res.outputs.some((t) => t.name === 'TRANSCRIPTS'), r.err?.message);
r = await call('ModelMetadata', { name: 'nope', version: '' });
check('ModelMetadata unknown -> NOT_FOUND', r.err?.code === grpc.status.NOT_FOUND, r.err?.code);

// the seed's request: WAV [2, N] padded, WAV_LENS [2, 1], TEXT_PREFIX [2, 1], raw contents
const N = 160000, lens = [N, 48000];
const wav = new Float32Array(2 * N);
wav.set(pcm.subarray(0, N), 0);
wav.set(pcm.subarray(0, 48000), N);
const lensBuf = Buffer.alloc(8); lensBuf.writeInt32LE(lens[0], 0); lensBuf.writeInt32LE(lens[1], 4);
const seedReq = {
  model_name: 'whisper', model_version: '', id: 'req-1',
  inputs: [{ name: 'WAV', datatype: 'FP32', shape: [2, N] },
           { name: 'WAV_LENS', datatype: 'INT32', shape: [2, 1] },
           { name: 'TEXT_PREFIX', datatype: 'BYTES', shape: [2, 1] }],
  outputs: [{ name: 'TRANSCRIPTS' }, { name: 'LANGUAGE' }],
  raw_input_contents: [Buffer.from(wav.buffer), lensBuf, bytesTensor([PRE, PRE])],
};
r = await call('ModelInfer', seedReq);
let rawTexts = null;
if (r.err) {
  check('ModelInfer (seed request)', false, `${r.err.code} ${r.err.message}`);
} else {
  const names = r.res.outputs.map((o) => o.name);
  rawTexts = bytesElements(r.res.raw_output_contents[names.indexOf('TRANSCRIPTS')]);
  const langs = bytesElements(r.res.raw_output_contents[names.indexOf('LANGUAGE')]);
  check('ModelInfer (seed request)', r.res.id === 'req-1' && rawTexts.length === 2 &&
        JSON.stringify(r.res.outputs[0].shape) === '[2,1]', JSON.stringify(r.res).slice(0, 200));
  check('ModelInfer language from TEXT_PREFIX', langs.join() === 'en,en', langs.join());
}
// the same with typed contents instead of raw bytes
r = await call('ModelInfer', {
  model_name: 'infer_bls', model_version: '1',
  inputs: [{ name: 'WAV', datatype: 'FP32', shape: [2, N], contents: { fp32_contents: Array.from(wav) } },
           { name: 'WAV_LENS', datatype: 'INT32', shape: [2, 1], contents: { int_contents: lens } },
           { name: 'TEXT_PREFIX', datatype: 'BYTES', shape: [1, 1], contents: { bytes_contents: [Buffer.from(PRE)] } }],
});
if (r.err) check('ModelInfer (typed contents)', false, `${r.err.code} ${r.err.message}`);
else {
  const t = bytesElements(r.res.raw_output_contents[0]);
  check('ModelInfer (typed contents) == raw', rawTexts && JSON.stringify(t) === JSON.stringify(rawTexts),
        `${JSON.stringify(t)} vs ${JSON.stringify(rawTexts)}`);
}
// errors
r = await call('ModelInfer', { model_name: 'whisper', inputs: [{ name: 'WAV', datatype: 'INT32', shape: [4], contents: { int_contents: [1, 2, 3, 4] } }] });
check('wrong datatype -> INVALID_ARGUMENT', r.err?.code === grpc.status.INVALID_ARGUMENT && /datatype/.test(r.err.details), r.err?.details);
r = await call('ModelInfer', { model_name: 'whisper', inputs: [{ name: 'TEXT_PREFIX', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(PRE)] } }] });
check('missing WAV -> INVALID_ARGUMENT', r.err?.code === grpc.status.INVALID_ARGUMENT, r.err?.details);
r = await call('ModelInfer', { ...seedReq, raw_input_contents: seedReq.raw_input_contents.slice(0, 2) });
check('raw contents count -> INVALID_ARGUMENT', r.err?.code === grpc.status.INVALID_ARGUMENT, r.err?.details);
r = await call('ModelInfer', { ...seedReq, model_name: 'gpt' });
check('unknown model -> NOT_FOUND', r.err?.code === grpc.status.NOT_FOUND, r.err?.details);

// decoupled streaming: partial transcripts, then the final response; two requests on one stream
await new Promise((resolve) => {
  const s = client.ModelStreamInfer();
  const got = [];
  s.on('data', (m) => got.push(m));
  s.on('error', (e) => { check('ModelStreamInfer', false, e.message); resolve(); });
  s.on('end', () => {
    const finals = got.filter((m) => m.infer_response?.parameters?.triton_final_response?.bool_param === true);
    const partials = got.filter((m) => m.infer_response?.parameters?.triton_final_response?.bool_param === false);
    const errors = got.filter((m) => m.error_message);
    check('ModelStreamInfer final responses', finals.length === 2, `${finals.length} finals of ${got.length}`);
    check('ModelStreamInfer partial transcripts', partials.length >= 1, `${partials.length} partials`);
    check('ModelStreamInfer error in stream', errors.length === 1 && /unknown input/.test(errors[0].error_message),
          JSON.stringify(errors));
    if (finals.length) {
      const last = bytesElements(finals[0].infer_response.raw_output_contents[0])[0];
      const lastPartial = partials.length ? bytesElements(partials[partials.length - 1].infer_response.raw_output_contents[0])[0] : null;
      check('ModelStreamInfer partial grows to the final', lastPartial !== null && last.startsWith(lastPartial.trim().slice(0, 5)),
            `${lastPartial} / ${last}`);
    }
    resolve();
  });
  const one = {
    model_name: 'whisper', id: 's1',
    inputs: [{ name: 'WAV', datatype: 'FP32', shape: [1, 48000] },
             { name: 'TEXT_PREFIX', datatype: 'BYTES', shape: [1, 1] }],
    raw_input_contents: [Buffer.from(pcm.slice(0, 48000).buffer), bytesTensor([PRE])],
  };
  s.write(one);
  s.write({ model_name: 'whisper', inputs: [{ name: 'MEL', datatype: 'FP32', shape: [1], contents: { fp32_contents: [0] } }] });
  s.write({ ...one, id: 's2' });
  s.end();
});

// a client that cancels: the server keeps serving
const c2 = client.ModelInfer({ ...seedReq, id: 'cancelled' }, new grpc.Metadata(), { deadline: Date.now() + 120000 }, () => {});
setTimeout(() => c2.cancel(), 20);
await new Promise((res) => setTimeout(res, 300));
r = await call('ServerLive', {});
check('live after a cancelled call', !r.err && r.res.live, r.err?.message);
client.close();
